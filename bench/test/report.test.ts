import { describe, expect, it } from 'vitest';
import { evaluateTargets } from '../src/report/checks.ts';
import { nodeFigures, percentile, percentiles, summarize } from '../src/report/stats.ts';
import { niceCeil, renderSvg, ticks } from '../src/report/svg.ts';
import { renderText } from '../src/report/text.ts';
import type { BenchReport, SystemResult } from '../src/report/types.ts';

function system(name: string, seconds: Array<number | null>): SystemResult {
  return summarize({
    system: name,
    label: name,
    nodes: seconds.map((s, i) => nodeFigures({ name: `node-${i}`, wave: 0, startedAt: 0, seconds: s, idealSeconds: 10, bytes: { peer: 1, seeder: 2, origin: 0 }, uploadedBytes: 3, peakRssBytes: 100 << 20, cpuSeconds: 1 })),
    origin: { bytes: 200, copies: 2, timeline: [[-1, 0], [0, 100], [5, 200]] },
    server: null,
    cpu: null,
    notes: [],
  });
}

describe('report figures', () => {
  it('takes nearest-rank percentiles (an actual sample)', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 0.5)).toBe(50);
    expect(percentile(values, 0.99)).toBe(99);
    expect(percentile([7], 0.99)).toBe(7);
    expect(percentiles([3, 1, 2])).toEqual({ p50: 2, p90: 3, p99: 3, p999: 3, max: 3 });
  });

  it('checks targets, counting a node that never completed as infinitely slow', () => {
    const fast = system('shoal', [10.5, 10.8, 11]);
    const stuck = system('aria2', [12, null, 13]);
    const checks = evaluateTargets(
      [
        { metric: 'ratio.max', atMost: 1.1 },
        { metric: 'origin.copies', atMost: 1.05 },
        { metric: 'fasterThan', baseline: 'aria2' },
        { metric: 'ratio.max', atMost: 2, system: 'aria2' },
        { metric: 'fasterThan', baseline: 'cache' },
      ],
      [fast, stuck],
      'shoal',
    );
    expect(checks.map((c) => c.pass)).toEqual([true, false, true, false, null]);
    expect(checks[0]!.value).toBeCloseTo(1.1, 9);
    expect(checks[2]!.reference).toBe(Infinity);
    expect(stuck.complete).toBe(2);
    expect(stuck.makespanSeconds).toBeNull();
  });

  it('renders a text table and an SVG with a line per system in each chart', () => {
    const report: BenchReport = {
      kind: 'rollout',
      version: 1,
      createdAt: '2026-01-01T00:00:00Z',
      scenario: { name: 'x', description: 'a <test>', downloadRate: 25e6, uploadRate: 25e6, seederRate: 1e8, originRate: 1e8, seeders: 1, warm: true, waves: [1] },
      machine: { cpus: 2, cpuModel: 'cpu', memoryBytes: 1, node: 'v24', kernel: '6' },
      idealSeconds: 10,
      links: 'token-bucket',
      systems: [system('shoal', [10.5, 11]), system('direct', [20, 40])],
      checks: [],
    };
    const text = renderText(report);
    expect(text).toMatch(/^shoal\s+2\/2\s+10\.50\s/m);
    expect(text).toMatch(/^direct\s+2\/2\s+20\.00\s/m);
    const svg = renderSvg(report);
    expect(svg.match(/<polyline/g)).toHaveLength(4);
    expect(svg).toContain('a &lt;test&gt;');
    expect(ticks(0, 10)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceCeil(23)).toBe(25);
  });
});
