import { describe, expect, it } from 'vitest';
import { applyOverrides, idealSeconds, loadScenario, parseScenario, waveAssignment } from '../src/scenario.ts';
import { parseDuration, parseSize } from '../src/lib/units.ts';

const base = { name: 't', nodes: 4, blobs: [{ name: 'b', size: '64Mi' }], nodeRate: '25MB/s' };

describe('scenarios', () => {
  it('reads sizes, rates and durations with units, and fills in defaults', () => {
    const s = parseScenario({ ...base, waveGap: '500ms', simulation: { latency: '2ms' } });
    expect(s.blobs[0]!.size).toBe(64 << 20);
    expect(s.downloadRate).toBe(25e6);
    expect(s.uploadRate).toBe(25e6);
    expect(s.seederRate).toBe(25e6);
    expect(s.originRate).toBe(25e6);
    expect(s.waves).toEqual([1]);
    expect(s.waveGap).toBe(0.5);
    expect(s.simulation.latency).toBe(0.002);
    expect(s.images).toEqual([[0]]);
    expect(idealSeconds(s, 0)).toBeCloseTo((64 << 20) / 25e6, 9);
    expect(parseSize('25Gbit/s')).toBe(3.125e9);
    expect(parseSize('3GB')).toBe(3e9);
    expect(parseDuration('1.5m')).toBe(90);
  });

  it('refuses bad input with the field that holds it', () => {
    expect(() => parseScenario({ ...base, nodes: 0 })).toThrow(/nodes must be a whole number >= 1/);
    expect(() => parseScenario({ ...base, nodeRate: 'fast' })).toThrow(/nodeRate: "fast" is not a size or rate/);
    expect(() => parseScenario({ ...base, waves: [0.5, 0.4] })).toThrow(/wave shares must add up to 1/);
    expect(() => parseScenario({ ...base, images: [['b', 'c']] })).toThrow(/images\[0\] names "c", which is not in blobs/);
    expect(() => parseScenario({ ...base, targets: [{ metric: 'speed' }] })).toThrow(/targets\[0\]\.metric must be one of/);
    expect(() => parseScenario({ name: 't', nodes: 2, blobs: [{ name: 'b', size: 1 }] })).toThrow(/nodeRate \(or downloadRate and uploadRate\) is required/);
    expect(() => applyOverrides(parseScenario({ ...base, blobs: [{ name: 'a', size: 1 }, { name: 'b', size: 1 }] }), { size: 5 })).toThrow(/only blob/);
  });

  it('applies command-line changes and says so in the description', () => {
    const s = applyOverrides(parseScenario(base), { nodes: 8, rate: 10e6, waves: [0.25, 0.75] });
    expect(s.nodes).toBe(8);
    expect(s.downloadRate).toBe(10e6);
    expect(s.description).toContain('[changed: nodes 8, rate 10000000, waves 0.25+0.75]');
    expect(waveAssignment(s)).toEqual([0, 0, 1, 1, 1, 1, 1, 1]);
  });

  it('loads every scenario shipped in bench/scenarios', async () => {
    for (const name of ['16x512-warm', '16x512-cold', 'images-shared-base', 'model-2g', 'kraken', 'model-200g']) {
      const s = await loadScenario(name);
      expect(s.name).toBe(name);
      expect(s.targets.length).toBeGreaterThan(0);
    }
    await expect(loadScenario('no-such-scenario')).rejects.toThrow(/cannot read scenario no-such-scenario/);
  });
});
