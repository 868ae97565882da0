/**
 * `shoal bench rollout`: a scenario run with real processes on this machine — an origin with a
 * capped link, Shoal (tracker/seeder + one agent per node), and the baselines a platform team
 * would pick instead — one system after another, on the same blobs, origin and caps; then one
 * report with all of them side by side (and, with `simulate`, the model's prediction of the
 * same scenario, checked against the measurement).
 */
import { statfs } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateBlob } from '../lib/blobs.ts';
import { removeDir } from '../lib/managed-process.ts';
import { formatBytes } from '../lib/units.ts';
import { evaluateTargets } from '../report/checks.ts';
import { machineInfo } from '../report/stats.ts';
import type { BenchReport, SystemResult } from '../report/types.ts';
import { type Scenario, idealSeconds, nodeBytes, toJson } from '../scenario.ts';
import { MODEL_SYSTEM, simulateScenario } from '../simulate.ts';
import { type RolloutContext, type RolloutBlob, phaseTimeoutMs } from './context.ts';
import { type RolloutNetwork, loopbackNetwork } from './network.ts';
import { ProgressLine } from './phase.ts';
import { benchProgram, getJson, startServerScript } from './processes.ts';
import { runAria2 } from './systems/aria2.ts';
import { runCache } from './systems/cache.ts';
import { runDirect } from './systems/direct.ts';
import { runShoal } from './systems/shoal.ts';

export const BASELINES = ['direct', 'cache', 'aria2'] as const;
export type Baseline = (typeof BASELINES)[number];

/** The blob agents pull before a rollout, so they start it warm (see systems/shoal.ts). */
const WARMUP_BYTES = 4 << 20;

/** Agents this machine is asked to run at most: beyond that, simulate. */
export const MAX_REAL_NODES = 64;
/** How far the model may be from the measurement and still count as validated. */
export const MODEL_TOLERANCE = 0.15;

export interface RolloutOptions {
  /** Baselines to run after Shoal, in this order. */
  compare?: readonly Baseline[];
  /** Also run the model of the scenario and check it against the measurement. */
  simulate?: boolean;
  /** How links are capped (default: token buckets on loopback). */
  network?: RolloutNetwork;
  /** Where the run's files go (default: a temporary directory, removed at the end). */
  workDir?: string;
  keep?: boolean;
}

export async function runRollout(scenario: Scenario, options: RolloutOptions = {}): Promise<BenchReport> {
  if (scenario.seeders !== 1) {
    throw new Error(`a real rollout runs one tracker, so one seeder; ${scenario.name} asks for ${scenario.seeders} (simulate it: shoal bench simulate)`);
  }
  if (scenario.nodes > MAX_REAL_NODES) {
    throw new Error(`${scenario.nodes} nodes is more than this machine runs (${MAX_REAL_NODES}); simulate it: shoal bench simulate`);
  }
  const log = new ProgressLine('rollout');
  const root = options.workDir ?? (await mkdtemp(join(tmpdir(), 'shoal-rollout-')));
  await checkDisk(scenario, root);
  const network = options.network ?? loopbackNetwork();
  const stops: Array<() => Promise<void>> = [];
  try {
    const originDir = join(root, 'origin');
    const blobs: RolloutBlob[] = [];
    for (const blob of scenario.blobs) {
      log.say(`generating ${blob.name} (${formatBytes(blob.size)})`);
      const { digest, path } = await generateBlob(originDir, blob.size);
      blobs.push({ name: blob.name, size: blob.size, digest, path });
    }
    const warm = await generateBlob(originDir, WARMUP_BYTES);
    const warmup: RolloutBlob = { name: 'warm-up', size: WARMUP_BYTES, ...warm };
    const origin = await startServerScript(
      'origin',
      benchProgram('origin-server'),
      ['--dir', originDir, '--rate', String(network.capsInProcess ? scenario.originRate : 0), '--host', network.serverHost],
      network.serverPrefix(),
    );
    stops.push(() => origin.proc.stop());
    const context: RolloutContext = {
      scenario,
      root,
      blobs,
      warmup,
      originDir,
      originUrl: origin.url,
      originBytes: async () => (await getJson<{ bytes: number }>(`${origin.url}/stats`)).bytes,
      network,
      timeoutMs: phaseTimeoutMs(scenario),
      log,
    };
    const systems: SystemResult[] = [];
    log.say(`shoal: ${scenario.nodes} agents, ${scenario.warm ? 'preheated' : 'cold'}`);
    systems.push(await runShoal(context));
    for (const baseline of options.compare ?? []) {
      log.say(`${baseline}: ${BASELINE_WORDS[baseline]}`);
      systems.push(await runBaseline(baseline, context));
    }
    let validation: BenchReport['validation'];
    if (options.simulate) {
      log.say('simulating the same scenario');
      const model = simulateScenario(scenario);
      systems.push(model);
      validation = validate(systems[0]!, model);
    }
    return {
      kind: 'rollout',
      version: 1,
      createdAt: new Date().toISOString(),
      scenario: toJson(scenario),
      machine: machineInfo(),
      idealSeconds: Math.max(...Array.from({ length: Math.min(scenario.nodes, scenario.images.length) }, (_, i) => idealSeconds(scenario, i))),
      links: network.mode,
      systems,
      checks: evaluateTargets(scenario.targets, systems, 'shoal'),
      ...(validation ? { validation } : {}),
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await network.stop();
    if (!options.keep && !options.workDir) await removeDir(root);
    else log.say(`files kept in ${root}`);
  }
}

const BASELINE_WORDS: Record<Baseline, string> = {
  direct: 'every node pulls straight from the origin',
  cache: 'every node pulls through a central pull-through cache (distribution in proxy mode)',
  aria2: 'a plain BitTorrent swarm (opentracker + aria2c)',
};

async function runBaseline(baseline: Baseline, context: RolloutContext): Promise<SystemResult> {
  switch (baseline) {
    case 'direct':
      return runDirect(context);
    case 'cache':
      return runCache(context);
    case 'aria2':
      return runAria2(context);
  }
}

/** The model's prediction of the median and slowest node against the measurement. */
function validate(measured: SystemResult, model: SystemResult): NonNullable<BenchReport['validation']> {
  const rows: NonNullable<BenchReport['validation']> = [];
  for (const [metric, pick] of [
    ['median node (s)', (s: SystemResult) => s.completion?.p50],
    ['slowest node (s)', (s: SystemResult) => s.completion?.max],
  ] as const) {
    const m = pick(measured);
    const p = pick(model);
    if (m === undefined || p === undefined || measured.complete < measured.nodes.length) continue;
    const difference = (p - m) / m;
    rows.push({ metric: `${MODEL_SYSTEM} vs shoal: ${metric}`, measured: m, predicted: p, difference, tolerance: MODEL_TOLERANCE, pass: Math.abs(difference) <= MODEL_TOLERANCE });
  }
  return rows;
}

/** Every node and the seeder store a copy, besides the origin's: refuse to start when the disk cannot hold them. */
async function checkDisk(scenario: Scenario, root: string): Promise<void> {
  let perSystem = 0;
  for (let i = 0; i < scenario.nodes; i++) perSystem += nodeBytes(scenario, i);
  const distinct = scenario.blobs.reduce((sum, b) => sum + b.size, 0);
  const needed = perSystem + 2 * distinct;
  const { bavail, bsize } = await statfs(root);
  const free = bavail * bsize;
  if (free < needed * 1.1) {
    throw new Error(`${scenario.name} needs about ${formatBytes(needed)} free in ${root} (every node stores its copy), only ${formatBytes(free)} is free`);
  }
}
