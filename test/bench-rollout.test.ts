/**
 * `shoal bench rollout` end to end: a small rollout (4 nodes, 32 MiB) on real processes, with
 * every baseline beside it, and the figures a user reads in its JSON, text and chart.
 */
import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchReport } from '@shoal/bench';
import { SHOAL_MAIN, makeTempDir, removeDir, run } from './harness/index.ts';

const SIZE = 32 << 20;
const NODES = 4;

describe('shoal bench rollout: 4 nodes x 32 MiB with the baselines', () => {
  let out: string;
  let report: BenchReport;
  let text: string;

  beforeAll(async () => {
    out = await makeTempDir('bench-rollout-');
    const result = await run(
      process.execPath,
      [SHOAL_MAIN, 'bench', 'rollout', '16x512-warm', '--nodes', String(NODES), '--size', '32Mi', '--compare', 'all', '--out', out],
      { timeoutMs: 240_000 },
    );
    text = result.stdout;
    report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as BenchReport;
  }, 300_000);

  afterAll(async () => {
    if (out) await removeDir(out);
  });

  it('rolls the blob out to every node of every system', () => {
    expect(report.kind).toBe('rollout');
    expect(report.systems.map((s) => s.system)).toEqual(['shoal', 'direct', 'cache', 'aria2']);
    for (const system of report.systems) {
      expect(system.nodes).toHaveLength(NODES);
      expect(system.complete, `${system.system}: ${system.notes.join('; ')}`).toBe(NODES);
      expect(system.nodes.every((n) => n.seconds !== null && n.seconds > 0)).toBe(true);
    }
  });

  it('reports completion percentiles and their ratios to the ideal S / B', () => {
    expect(report.idealSeconds).toBeCloseTo(SIZE / 25e6, 6);
    for (const system of report.systems) {
      const c = system.completion!;
      expect(c.p50).toBeLessThanOrEqual(c.p90);
      expect(c.p90).toBeLessThanOrEqual(c.p99);
      expect(c.p99).toBeLessThanOrEqual(c.max);
      // No node can beat its own link, beyond what a token bucket lets through at once: its
      // burst (1/20 s of the rate) when the rollout starts and the last read it has not yet
      // paid for when it ends (a socket read, at most 1 MiB).
      const slack = (25e6 / 20 + (1 << 20)) / SIZE;
      for (const node of system.nodes) expect(node.ratio!).toBeGreaterThanOrEqual(1 - slack);
      expect(system.ratio!.max).toBeCloseTo(c.max / report.idealSeconds, 6);
      expect(system.makespanSeconds!).toBeGreaterThanOrEqual(c.max);
    }
  });

  it('counts origin egress in copies: Shoal reads one, direct pulls one per node', () => {
    const shoal = report.systems.find((s) => s.system === 'shoal')!;
    const direct = report.systems.find((s) => s.system === 'direct')!;
    for (const system of report.systems) expect(system.origin.copies).toBeGreaterThanOrEqual(1);
    // The seeder was preheated from the origin once; the rollout itself read nothing more.
    expect(shoal.origin.copies).toBeLessThanOrEqual(1.05);
    expect(shoal.origin.timeline.filter(([t]) => t > 0).every(([, bytes]) => bytes === shoal.origin.bytes)).toBe(true);
    expect(direct.origin.copies).toBeCloseTo(NODES, 1);
  });

  it('says where each Shoal node got its bytes, what it uploaded, its peak memory and CPU', () => {
    const shoal = report.systems.find((s) => s.system === 'shoal')!;
    let uploaded = 0;
    for (const node of shoal.nodes) {
      const bytes = node.bytes!;
      expect(bytes.peer + bytes.seeder + bytes.origin).toBe(SIZE);
      uploaded += node.uploadedBytes!;
      expect(node.peakRssBytes!).toBeGreaterThan(10 << 20);
      expect(node.cpuSeconds!).toBeGreaterThan(0);
    }
    // What the nodes got from each other, they uploaded to each other.
    const fromPeers = shoal.nodes.reduce((sum, n) => sum + n.bytes!.peer, 0);
    expect(uploaded).toBeGreaterThanOrEqual(fromPeers);
    expect(shoal.server!.uploadedBytes).toBeGreaterThanOrEqual(shoal.nodes.reduce((sum, n) => sum + n.bytes!.seeder, 0));
    const cpu = shoal.cpu!;
    expect(cpu.cores).toBe(cpus().length);
    expect(cpu.busyMean).toBeGreaterThan(0);
    expect(cpu.busyMean).toBeLessThanOrEqual(1.0001);
    expect(cpu.ownCores).toBeGreaterThan(0);
    expect(typeof cpu.limited).toBe('boolean');
  });

  it('prints the systems side by side and draws the CDF and the origin egress', async () => {
    for (const system of ['shoal', 'direct', 'cache', 'aria2']) expect(text).toMatch(new RegExp(`^${system}\\s+${NODES}/${NODES}`, 'm'));
    expect(text).toContain('p50/ideal');
    expect(text).toMatch(/origin egress <= 1.05 copies/);
    const svg = await readFile(join(out, 'report.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('completion (CDF)');
    expect(svg).toContain('origin egress over time');
    // One CDF and one egress line per system.
    expect(svg.match(/<polyline/g)).toHaveLength(2 * report.systems.length);
  });
});
