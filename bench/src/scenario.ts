/**
 * Rollout scenarios: what is rolled out (blobs, and which of them each node pulls), to how
 * many nodes, over which links, in which waves. One file format for `shoal bench rollout`
 * (real processes) and `shoal bench simulate` (the fleet model); see bench/scenarios/.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parseDuration, parseSize } from './lib/units.ts';

/** Where the scenarios shipped with the project live. */
export const SCENARIO_DIR = fileURLToPath(new URL('../scenarios/', import.meta.url));

/** A figure a scenario must reach; checked and printed with every report. */
export type Target =
  | { metric: RatioMetric | 'origin.copies'; atMost: number; system?: string }
  | { metric: 'fasterThan'; baseline: string; system?: string };

export type RatioMetric = 'ratio.p50' | 'ratio.p90' | 'ratio.p99' | 'ratio.p999' | 'ratio.max';

export interface Scenario {
  name: string;
  description: string;
  /** Agents (the tracker's seeders come on top). */
  nodes: number;
  blobs: Array<{ name: string; size: number }>;
  /** Blob indices per image; node i pulls images[i % images.length]. */
  images: number[][];
  /** Each node's link, bytes/s. */
  downloadRate: number;
  uploadRate: number;
  /** Seeders (a real rollout runs one tracker, so one seeder). */
  seeders: number;
  /** Upload of each seeder, and of the central cache and the aria2 seeder in the baselines. */
  seederRate: number;
  /** The origin's link, shared by everything that reads from it. */
  originRate: number;
  /** The seeder (and the cache) hold the blobs before the rollout starts: preheated. */
  warm: boolean;
  /** Shares of the nodes in each wave (the first is the canary); a wave starts when the previous one completed. */
  waves: number[];
  /** Seconds between a wave's completion and the next wave's start. */
  waveGap: number;
  /** Nodes of a wave start spread over this many seconds. */
  startSpread: number;
  simulation: { latency: number; trackerInterval: number; seed: number; pieceLength?: number; step?: number };
  targets: Target[];
}

/** Command-line changes to a scenario. */
export interface ScenarioOverrides {
  nodes?: number;
  /** Sets the size of the scenario's only blob. */
  size?: number;
  /** Sets download and upload rate. */
  rate?: number;
  downloadRate?: number;
  uploadRate?: number;
  seeders?: number;
  seederRate?: number;
  originRate?: number;
  warm?: boolean;
  waves?: number[];
  waveGap?: number;
  startSpread?: number;
  seed?: number;
  latency?: number;
  pieceLength?: number;
}

/** The node's share of the rollout: the bytes it pulls. */
export function nodeBytes(scenario: Scenario, node: number): number {
  return scenario.images[node % scenario.images.length]!.reduce((sum, b) => sum + scenario.blobs[b]!.size, 0);
}

/**
 * The wave of each node: nodes go into waves in order, each wave's share rounded to whole
 * nodes (the last wave takes the rest).
 */
export function waveAssignment(scenario: { readonly nodes: number; readonly waves: readonly number[] }): number[] {
  const waves: number[] = [];
  let cumulative = 0;
  for (const [w, share] of scenario.waves.entries()) {
    cumulative += share;
    const end = w === scenario.waves.length - 1 ? scenario.nodes : Math.round(cumulative * scenario.nodes);
    while (waves.length < end) waves.push(w);
  }
  return waves;
}

/** The lower bound of a node's pull: its bytes over its own download link (S / B). */
export function idealSeconds(scenario: Scenario, node: number): number {
  return nodeBytes(scenario, node) / scenario.downloadRate;
}

/** Loads a scenario by name (bench/scenarios/<name>.json) or by path. */
export async function loadScenario(nameOrPath: string): Promise<Scenario> {
  const path = /[/\\]|\.json$/.test(nameOrPath) ? nameOrPath : join(SCENARIO_DIR, `${nameOrPath}.json`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read scenario ${nameOrPath} (${path}): ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`scenario ${path} is not JSON: ${(err as Error).message}`);
  }
  return parseScenario(json, path);
}

/** Validates a scenario's JSON; every mistake is reported with the field that holds it. */
export function parseScenario(json: unknown, source = 'scenario'): Scenario {
  const fail = (message: string): never => {
    throw new Error(`${source}: ${message}`);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('must be a JSON object');
  const raw = json as Record<string, unknown>;
  const size = (field: string, value: unknown): number => {
    if (typeof value === 'number' && value > 0) return value;
    if (typeof value !== 'string') return fail(`${field} must be a size like "512Mi" or a number of bytes`);
    try {
      const n = parseSize(value);
      return n > 0 ? n : fail(`${field} must be > 0`);
    } catch (err) {
      return fail(`${field}: ${(err as Error).message}`);
    }
  };
  const duration = (field: string, value: unknown, fallback: number): number => {
    if (value === undefined) return fallback;
    try {
      return parseDuration(value as string | number);
    } catch (err) {
      return fail(`${field}: ${(err as Error).message}`);
    }
  };
  const count = (field: string, value: unknown, fallback?: number): number => {
    if (value === undefined && fallback !== undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) return fail(`${field} must be a whole number >= 1`);
    return value;
  };
  const name = typeof raw.name === 'string' ? raw.name : fail('name must be a string');
  if (!Array.isArray(raw.blobs) || raw.blobs.length === 0) fail('blobs must be a non-empty list of { "name", "size" }');
  const blobs = (raw.blobs as unknown[]).map((b, i) => {
    const blob = b as Record<string, unknown>;
    if (typeof blob !== 'object' || blob === null || typeof blob.name !== 'string') return fail(`blobs[${i}] needs a "name"`);
    return { name: blob.name, size: size(`blobs[${i}].size`, blob.size) };
  });
  const byName = new Map(blobs.map((b, i) => [b.name, i]));
  if (byName.size !== blobs.length) fail('blob names must differ');
  let images: number[][] = [blobs.map((_, i) => i)];
  if (raw.images !== undefined) {
    if (!Array.isArray(raw.images) || raw.images.length === 0) fail('images must be a non-empty list of blob-name lists');
    images = (raw.images as unknown[]).map((image, i) => {
      if (!Array.isArray(image) || image.length === 0) return fail(`images[${i}] must list blob names`);
      return image.map((n) => byName.get(n as string) ?? fail(`images[${i}] names "${String(n)}", which is not in blobs`));
    });
  }
  const nodeRate = raw.nodeRate === undefined ? undefined : size('nodeRate', raw.nodeRate);
  const downloadRate = raw.downloadRate === undefined ? (nodeRate ?? fail('nodeRate (or downloadRate and uploadRate) is required')) : size('downloadRate', raw.downloadRate);
  const uploadRate = raw.uploadRate === undefined ? (nodeRate ?? fail('nodeRate (or downloadRate and uploadRate) is required')) : size('uploadRate', raw.uploadRate);
  const waves = raw.waves === undefined ? [1] : raw.waves;
  const sim = (raw.simulation ?? {}) as Record<string, unknown>;
  const scenario: Scenario = {
    name,
    description: typeof raw.description === 'string' ? raw.description : name,
    nodes: count('nodes', raw.nodes),
    blobs,
    images,
    downloadRate,
    uploadRate,
    seeders: count('seeders', raw.seeders, 1),
    seederRate: raw.seederRate === undefined ? uploadRate : size('seederRate', raw.seederRate),
    originRate: raw.originRate === undefined ? downloadRate : size('originRate', raw.originRate),
    warm: raw.warm === undefined ? true : typeof raw.warm === 'boolean' ? raw.warm : fail('warm must be true or false'),
    waves: parseWaves(waves, fail),
    waveGap: duration('waveGap', raw.waveGap, 0),
    startSpread: duration('startSpread', raw.startSpread, 0),
    simulation: {
      latency: duration('simulation.latency', sim.latency, 0.001),
      trackerInterval: duration('simulation.trackerInterval', sim.trackerInterval, 30),
      seed: sim.seed === undefined ? 1 : typeof sim.seed === 'number' && Number.isInteger(sim.seed) ? sim.seed : fail('simulation.seed must be an integer'),
      ...(sim.pieceLength === undefined ? {} : { pieceLength: size('simulation.pieceLength', sim.pieceLength) }),
      ...(sim.step === undefined ? {} : { step: duration('simulation.step', sim.step, 0) }),
    },
    targets: parseTargets(raw.targets, fail),
  };
  return scenario;
}

function parseWaves(value: unknown, fail: (message: string) => never): number[] {
  if (!Array.isArray(value) || value.length === 0 || value.some((w) => typeof w !== 'number' || !(w > 0))) {
    return fail('waves must be a list of shares > 0, e.g. [0.125, 0.875] (a canary, then the rest)');
  }
  const total = (value as number[]).reduce((a, b) => a + b, 0);
  if (Math.abs(total - 1) > 1e-6) fail(`wave shares must add up to 1, they add up to ${total}`);
  return value as number[];
}

const TARGET_METRICS = new Set(['ratio.p50', 'ratio.p90', 'ratio.p99', 'ratio.p999', 'ratio.max', 'origin.copies', 'fasterThan']);

function parseTargets(value: unknown, fail: (message: string) => never): Target[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) return fail('targets must be a list');
  return value.map((t, i) => {
    const target = t as Record<string, unknown>;
    if (typeof target !== 'object' || target === null || !TARGET_METRICS.has(target.metric as string)) {
      return fail(`targets[${i}].metric must be one of ${[...TARGET_METRICS].join(', ')}`);
    }
    const system = typeof target.system === 'string' ? { system: target.system } : {};
    if (target.metric === 'fasterThan') {
      if (typeof target.baseline !== 'string') return fail(`targets[${i}] needs a "baseline" (direct, cache or aria2)`);
      return { metric: 'fasterThan', baseline: target.baseline, ...system };
    }
    if (typeof target.atMost !== 'number') return fail(`targets[${i}] needs "atMost"`);
    return { metric: target.metric as RatioMetric | 'origin.copies', atMost: target.atMost, ...system };
  });
}

/** Applies command-line changes; the result is validated like a file. */
export function applyOverrides(scenario: Scenario, overrides: ScenarioOverrides): Scenario {
  const next: Scenario = structuredClone(scenario);
  if (overrides.size !== undefined) {
    if (next.blobs.length !== 1) throw new Error(`--size sets the size of a scenario's only blob; ${scenario.name} has ${next.blobs.length}`);
    next.blobs[0]!.size = overrides.size;
  }
  if (overrides.nodes !== undefined) next.nodes = overrides.nodes;
  if (overrides.rate !== undefined) next.downloadRate = next.uploadRate = overrides.rate;
  if (overrides.downloadRate !== undefined) next.downloadRate = overrides.downloadRate;
  if (overrides.uploadRate !== undefined) next.uploadRate = overrides.uploadRate;
  if (overrides.seeders !== undefined) next.seeders = overrides.seeders;
  if (overrides.seederRate !== undefined) next.seederRate = overrides.seederRate;
  if (overrides.originRate !== undefined) next.originRate = overrides.originRate;
  if (overrides.warm !== undefined) next.warm = overrides.warm;
  if (overrides.waves !== undefined) next.waves = overrides.waves;
  if (overrides.waveGap !== undefined) next.waveGap = overrides.waveGap;
  if (overrides.startSpread !== undefined) next.startSpread = overrides.startSpread;
  if (overrides.seed !== undefined) next.simulation.seed = overrides.seed;
  if (overrides.latency !== undefined) next.simulation.latency = overrides.latency;
  if (overrides.pieceLength !== undefined) next.simulation.pieceLength = overrides.pieceLength;
  const changed = Object.entries(overrides)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key} ${Array.isArray(value) ? value.join('+') : String(value)}`);
  if (changed.length > 0) next.description = `${scenario.description} [changed: ${changed.join(', ')}]`;
  // Re-validate through the file parser so a bad flag gets the same clear error as a bad file.
  return parseScenario(toJson(next), `${scenario.name} with command-line changes`);
}

/** The scenario in its file form (sizes in bytes, durations in seconds). */
export function toJson(scenario: Scenario): Record<string, unknown> {
  return {
    name: scenario.name,
    description: scenario.description,
    nodes: scenario.nodes,
    blobs: scenario.blobs,
    images: scenario.images.map((image) => image.map((b) => scenario.blobs[b]!.name)),
    downloadRate: scenario.downloadRate,
    uploadRate: scenario.uploadRate,
    seeders: scenario.seeders,
    seederRate: scenario.seederRate,
    originRate: scenario.originRate,
    warm: scenario.warm,
    waves: scenario.waves,
    waveGap: scenario.waveGap,
    startSpread: scenario.startSpread,
    simulation: scenario.simulation,
    targets: scenario.targets,
  };
}
