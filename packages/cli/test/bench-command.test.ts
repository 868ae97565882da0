import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { program } from '../src/program.ts';

function sub(command: Command, name: string): Command {
  const found = command.commands.find((c) => c.name() === name);
  if (!found) throw new Error(`no ${name} command`);
  return found;
}

describe('shoal bench', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-bench-cli-'));
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await rm(dir, { recursive: true, force: true });
  });

  async function shoal(...args: string[]): Promise<void> {
    const root = program().exitOverride();
    for (const command of root.commands) command.exitOverride();
    for (const command of sub(root, 'bench').commands) command.exitOverride();
    await root.parseAsync(args, { from: 'user' });
  }

  it('has rollout and simulate, every flag with its environment twin', () => {
    const bench = sub(program(), 'bench');
    expect(bench.commands.map((c) => c.name()).sort()).toEqual(['rollout', 'simulate']);
    for (const command of bench.commands) for (const option of command.options) expect(option.envVar).toMatch(/^SHOAL_[A-Z0-9_]+$/);
    expect(sub(bench, 'rollout').options.map((o) => o.long)).toEqual(expect.arrayContaining(['--compare', '--simulate', '--nodes', '--rate', '--waves', '--out']));
  });

  it('simulates a scenario with command-line changes and writes the report', async () => {
    await shoal('bench', 'simulate', '16x512-warm', '--nodes', '6', '--size', '16Mi', '--rate', '50MB/s', '--waves', '0.5,0.5', '--out', dir);
    const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
    expect(report.scenario.nodes).toBe(6);
    expect(report.scenario.downloadRate).toBe(50e6);
    expect(report.scenario.waves).toEqual([0.5, 0.5]);
    expect(report.systems[0].nodes.map((n: { wave: number }) => n.wave)).toEqual([0, 0, 0, 1, 1, 1]);
    expect(await readFile(join(dir, 'report.svg'), 'utf8')).toMatch(/^<svg/);
  });

  it('refuses bad input with a clear message', async () => {
    await expect(shoal('bench', 'rollout', '--compare', 'bittorrent')).rejects.toThrow(/"bittorrent" is not a baseline \(direct, cache, aria2, or all\)/);
    await expect(shoal('bench', 'simulate', '--waves', 'half')).rejects.toThrow(/"half" is not a list of shares/);
    await expect(shoal('bench', 'simulate', '16x512-warm', '--waves', '0.5,0.4', '--out', dir)).rejects.toThrow(/wave shares must add up to 1/);
    await expect(shoal('bench', 'simulate', 'kraken', '--warm', '--cold', '--out', dir)).rejects.toThrow(/--warm and --cold exclude each other/);
    await expect(shoal('bench', 'simulate', 'no-such-scenario', '--out', dir)).rejects.toThrow(/cannot read scenario no-such-scenario/);
    await expect(shoal('bench', 'rollout', 'kraken', '--out', dir)).rejects.toThrow(/a real rollout runs one tracker, so one seeder/);
    await expect(shoal('bench', 'rollout', '16x512-warm', '--nodes', '100', '--out', dir)).rejects.toThrow(/100 nodes is more than this machine runs \(64\)/);
  });
});
