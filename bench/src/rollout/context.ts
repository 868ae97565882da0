/**
 * What every system of a rollout benchmark runs against: the scenario, the generated blobs on
 * the origin, the origin itself, and where processes run.
 */
import { type Scenario, idealSeconds, nodeBytes, waveAssignment } from '../scenario.ts';
import type { RolloutNetwork } from './network.ts';
import type { ProgressLine } from './phase.ts';

export interface RolloutBlob {
  name: string;
  size: number;
  digest: `sha256:${string}`;
  /** The blob's file on the origin. */
  path: string;
}

export interface RolloutContext {
  scenario: Scenario;
  /** A directory of this run; each system works in its own subdirectory and removes it. */
  root: string;
  blobs: RolloutBlob[];
  /** A small blob each system may pull once before the rollout, to get its processes past start-up. */
  warmup: RolloutBlob;
  /** The origin's OCI layout (blobs/sha256/<hex>). */
  originDir: string;
  /** The origin server: `<url>/blobs/sha256:<hex>` and the registry API. */
  originUrl: string;
  /** Bytes the origin has sent so far. */
  originBytes(): Promise<number>;
  network: RolloutNetwork;
  /** Give up on a system after this long. */
  timeoutMs: number;
  log: ProgressLine;
}

/** The blobs node `i` pulls. */
export function blobsOf(context: RolloutContext, i: number): RolloutBlob[] {
  const { scenario } = context;
  return scenario.images[i % scenario.images.length]!.map((b) => context.blobs[b]!);
}

/** Bytes of the distinct blobs: one copy of the rollout. */
export function copyBytes(context: RolloutContext): number {
  return context.blobs.reduce((sum, b) => sum + b.size, 0);
}

export interface NodePlan {
  index: number;
  name: string;
  wave: number;
  blobs: RolloutBlob[];
  bytes: number;
  idealSeconds: number;
}

/** Every node's name, wave, blobs and ideal time. */
export function nodePlans(context: RolloutContext): NodePlan[] {
  const waves = waveAssignment(context.scenario);
  return waves.map((wave, index) => ({
    index,
    name: `node-${index}`,
    wave,
    blobs: blobsOf(context, index),
    bytes: nodeBytes(context.scenario, index),
    idealSeconds: idealSeconds(context.scenario, index),
  }));
}

/**
 * How long a system may take before it is given up: twice what the slowest sensible system
 * needs (every byte through the origin's or the central server's link), and a minute more.
 */
export function phaseTimeoutMs(scenario: Scenario): number {
  let total = 0;
  for (let i = 0; i < scenario.nodes; i++) total += nodeBytes(scenario, i);
  const slowest = Math.max(total / Math.min(scenario.originRate, scenario.seederRate), ...Array.from({ length: scenario.nodes }, (_, i) => idealSeconds(scenario, i)));
  return (2 * slowest * scenario.waves.length + scenario.waveGap * scenario.waves.length + scenario.startSpread * scenario.waves.length + 60) * 1000;
}
