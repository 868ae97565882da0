/**
 * `shoal bench simulate`: the fleet model decides with the agent's and the tracker's own
 * policy code (the very objects their packages export, not copies), and a run is a function
 * of its seed.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import * as bench from '@shoal/bench';
import * as core from '@shoal/core';
import * as swarm from '@shoal/swarm';
import * as tracker from '@shoal/tracker';
import { SHOAL_MAIN, makeTempDir, removeDir, run } from './harness/index.ts';

/** 40 nodes, two blobs, one seeder: small enough for a test, big enough to swarm. */
const config: bench.SimulationConfig = {
  nodes: 40,
  blobs: [
    { name: 'a', size: 48 << 20 },
    { name: 'b', size: 16 << 20 },
  ],
  images: [[0, 1], [0]],
  downloadRate: 50e6,
  uploadRate: 50e6,
  seeders: 1,
  seederRate: 100e6,
  originRate: 100e6,
  warm: true,
  waves: [0.25, 0.75],
  waveGap: 0,
  startSpread: 0.2,
  latency: 0.001,
  trackerInterval: 30,
  seed: 42,
};

describe('the fleet model', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await removeDir(dir);
  });

  it('decides with the agent\u2019s and the tracker\u2019s own policy objects', () => {
    const policies = bench.simulatorPolicies;
    expect(policies.PiecePicker).toBe(swarm.PiecePicker);
    expect(policies.SeedOffers).toBe(swarm.SeedOffers);
    expect(policies.choosePiece).toBe(swarm.choosePiece);
    expect(policies.linkToDrop).toBe(swarm.linkToDrop);
    expect(policies.mayStartPiece).toBe(swarm.mayStartPiece);
    expect(policies.nextAnnounceDelayMs).toBe(swarm.nextAnnounceDelayMs);
    expect(policies.pipelineLimits).toBe(swarm.pipelineLimits);
    expect(policies.seedOffersPerPeer).toBe(swarm.seedOffersPerPeer);
    expect(policies.selectHandout).toBe(tracker.selectHandout);
    expect(policies.choosePieceLength).toBe(core.choosePieceLength);
  });

  it('runs them: the agent\u2019s piece picker and the seeder\u2019s offers are what a simulation calls', () => {
    const pick = vi.spyOn(swarm.PiecePicker.prototype, 'pick');
    const offer = vi.spyOn(swarm.SeedOffers.prototype, 'next');
    try {
      const result = new bench.Simulation({ ...config, nodes: 8 }).run();
      expect(result.nodes.every((n) => n.seconds !== undefined)).toBe(true);
      expect(pick.mock.calls.length).toBeGreaterThan(100);
      expect(offer.mock.calls.length).toBeGreaterThan(10);
    } finally {
      pick.mockRestore();
      offer.mockRestore();
    }
  });

  it('gives the same run for the same seed, and another for another seed', () => {
    const first = new bench.Simulation(config).run();
    const second = new bench.Simulation(config).run();
    const other = new bench.Simulation({ ...config, seed: 43 }).run();
    const figures = (r: bench.SimulationResult) => ({ nodes: r.nodes, seeders: r.seeders, origin: r.originBytes, wasted: r.stats.wastedBytes, events: r.stats.events });
    expect(figures(second)).toEqual(figures(first));
    expect(figures(other)).not.toEqual(figures(first));
    // Sane: everyone finished, no faster than its own link allows, the seeder read the origin once.
    for (const node of first.nodes) {
      expect(node.seconds).toBeDefined();
      expect(node.seconds!).toBeGreaterThanOrEqual(node.size / config.downloadRate);
      expect(node.bytes.peer + node.bytes.seeder).toBe(node.size);
    }
    expect(first.originBytes).toBe((48 << 20) + (16 << 20));
    // The second wave started only once the first had completed.
    const firstWaveDone = Math.max(...first.nodes.filter((n) => n.wave === 0).map((n) => n.startedAt + n.seconds!));
    expect(Math.min(...first.nodes.filter((n) => n.wave === 1).map((n) => n.startedAt))).toBeGreaterThanOrEqual(firstWaveDone);
  });

  it('reports through the command line, the same figures for the same seed', async () => {
    const runOnce = async () => {
      const out = await makeTempDir('bench-simulate-');
      dirs.push(out);
      await run(process.execPath, [SHOAL_MAIN, 'bench', 'simulate', '16x512-cold', '--nodes', '24', '--size', '64Mi', '--seed', '7', '--out', out], { timeoutMs: 120_000 });
      return JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as bench.BenchReport;
    };
    const [a, b] = [await runOnce(), await runOnce()];
    expect(a.kind).toBe('simulation');
    const model = a.systems[0]!;
    expect(model.system).toBe('shoal-model');
    expect(model.complete).toBe(24);
    expect(model.ratio!.p50).toBeGreaterThanOrEqual(1);
    expect(model.origin.copies).toBeCloseTo(1, 6);
    expect(b.systems[0]!.nodes).toEqual(model.nodes);
  });
});
