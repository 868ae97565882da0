import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { program } from '../src/program.ts';

function sub(command: Command, name: string): Command {
  const found = command.commands.find((c) => c.name() === name);
  if (!found) throw new Error(`no ${name} command`);
  return found;
}

const longFlags = (command: Command) => command.options.map((o) => o.long?.slice(2));

describe('shoal agent', () => {
  it('has the flags the deploy manifests use, each with its environment twin', () => {
    const agent = sub(program(), 'agent');
    expect(longFlags(agent)).toEqual(expect.arrayContaining(['listen', 'tracker', 'store', 'upstream-config', 'fallback', 'default-registry', 'credentials']));
    const configure = sub(agent, 'configure-containerd');
    expect(longFlags(configure)).toEqual(expect.arrayContaining(['certs-dir', 'mirror', 'registry', 'upstream-config', 'undo']));
    for (const option of [...agent.options, ...configure.options]) expect(option.envVar).toMatch(/^SHOAL_[A-Z0-9_]+$/);
  });

  describe('configure-containerd', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'shoal-cli-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    async function shoal(...args: string[]): Promise<void> {
      await program().exitOverride().parseAsync(args, { from: 'user' });
    }

    it('writes hosts.toml with the upstream of --upstream-config as server, is idempotent, and undoes', async () => {
      const certs = join(dir, 'certs.d');
      const upstreams = join(dir, 'upstreams.json');
      await writeFile(upstreams, JSON.stringify({ '127.0.0.1:5001': 'http://127.0.0.1:5001' }));
      const args = ['agent', 'configure-containerd', '--certs-dir', certs, '--mirror', 'http://127.0.0.1:5000', '--registry', '127.0.0.1:5001', '--registry', '_default', '--upstream-config', upstreams];
      const lines: string[] = [];
      const write = process.stdout.write;
      process.stdout.write = ((chunk: string) => lines.push(chunk.trimEnd()) > 0) as typeof process.stdout.write;
      try {
        await shoal(...args);
        // The option after the subcommand is the subcommand's, not `agent`'s of the same name.
        const file = await readFile(join(certs, '127.0.0.1:5001', 'hosts.toml'), 'utf8');
        expect(file).toContain('server = "http://127.0.0.1:5001"');
        expect(file).toContain('[host."http://127.0.0.1:5000"]');
        await shoal(...args);
        await shoal('agent', 'configure-containerd', '--certs-dir', certs, '--undo');
      } finally {
        process.stdout.write = write;
      }
      expect(lines.map((l) => l.split(/\s+/)[0])).toEqual(['written', 'written', 'unchanged', 'unchanged', 'removed', 'removed', 'removed', 'removed']);
    });

    it('says what is missing', async () => {
      await expect(shoal('agent', 'configure-containerd', '--certs-dir', dir, '--registry', '_default')).rejects.toThrow(/--mirror is required/);
      await expect(shoal('agent', 'configure-containerd', '--certs-dir', dir, '--mirror', 'http://127.0.0.1:5000')).rejects.toThrow(/--registry is required/);
    });
  });
});
