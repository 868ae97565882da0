/**
 * One system's rollout, the part every system shares: nodes asked to pull in waves (the next
 * wave once the previous one completed), progress polled and drawn on a terminal, the
 * machine's CPU sampled, the origin's egress followed over time.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CpuSampler, processCpuSeconds } from '../lib/proc-stats.ts';
import { formatBytes } from '../lib/units.ts';
import type { CpuFigures } from '../report/types.ts';
import type { Scenario } from '../scenario.ts';

/** A node of the system under test, as the phase drives it. */
export interface NodeUnderTest {
  readonly name: string;
  readonly wave: number;
  /** Bytes of all the blobs it pulls. */
  readonly bytes: number;
  /** The process whose CPU counts as the node's (undefined: none of its own yet). */
  pid(): number | undefined;
  /** Asks the node to pull its blobs. */
  begin(): Promise<void>;
  /** CPU seconds the node reported itself, for a process already gone when the phase ends. */
  reportedCpuSeconds?(): number | undefined;
  /**
   * Bytes it holds so far and, once it has them all verified, the wall-clock ms it did; or why
   * it failed (it will not complete).
   */
  poll(): Promise<{ bytes: number; completedAt?: number; failed?: string; peers?: number }>;
}

export interface NodeTiming {
  /** Seconds since the rollout started. */
  startedAt: number;
  /** Seconds since the rollout started; null if it never completed. */
  completedAt: number | null;
  /** [seconds since the rollout started, bytes held, peers (when known)], about once a second. */
  progress: Array<[number, number] | [number, number, number]>;
  cpuSeconds: number | null;
}

export interface PhaseResult {
  /** Wall-clock ms the rollout started. */
  t0: number;
  nodes: NodeTiming[];
  cpu: CpuFigures;
  /** Why nodes did not complete, if some did not. */
  notes: string[];
}

/** A share of all cores busy above which a result is the machine's limit, not the design's. */
export const CPU_LIMIT = 0.9;

/** Follows the origin's egress: bytes so far over time, from before a preheat to the end. */
export class OriginMonitor {
  readonly #read: () => Promise<number>;
  readonly #samples: Array<[number, number]> = [];
  #base = 0;
  #timer: NodeJS.Timeout | undefined;
  #latest = 0;

  constructor(read: () => Promise<number>) {
    this.#read = read;
  }

  get bytes(): number {
    return this.#latest;
  }

  async start(): Promise<void> {
    this.#base = await this.#read();
    this.#samples.push([Date.now(), 0]);
    this.#timer = setInterval(() => void this.sample(), 250);
  }

  async sample(): Promise<number> {
    try {
      this.#latest = (await this.#read()) - this.#base;
      this.#samples.push([Date.now(), this.#latest]);
    } catch {
      // the origin is stopping
    }
    return this.#latest;
  }

  async stop(): Promise<number> {
    clearInterval(this.#timer);
    return this.sample();
  }

  /** [seconds since t0, bytes] (negative times: before the rollout, e.g. the preheat). */
  timeline(t0: number): Array<[number, number]> {
    const points: Array<[number, number]> = [];
    for (const [at, bytes] of this.#samples) {
      const last = points[points.length - 1];
      // Keep the shape, drop the flat runs between changes.
      if (last && last[1] === bytes && points.length > 1 && points[points.length - 2]![1] === bytes) last[0] = (at - t0) / 1000;
      else points.push([(at - t0) / 1000, bytes]);
    }
    return points;
  }
}

export interface PhaseOptions {
  system: string;
  scenario: Scenario;
  nodes: readonly NodeUnderTest[];
  origin: OriginMonitor;
  /** Bytes of the distinct blobs (one copy), for origin copies on the progress line. */
  copyBytes: number;
  /** Processes besides the nodes (tracker, cache, seeder) whose CPU counts for the system. */
  serverPids: () => number[];
  timeoutMs: number;
}

/** Runs the waves and returns when every node completed or the time is up. */
export async function runPhase(options: PhaseOptions): Promise<PhaseResult> {
  const { nodes, scenario } = options;
  const sampler = new CpuSampler();
  const progress = new ProgressLine(options.system);
  const started = new Map<NodeUnderTest, number>();
  const completed = new Map<NodeUnderTest, number>();
  const failed = new Map<NodeUnderTest, string>();
  const held = new Map<NodeUnderTest, number>();
  const progressOf = new Map<NodeUnderTest, NodeTiming['progress']>(nodes.map((n) => [n, []]));
  const cpuAtStart = new Map<number, number>();
  const totalBytes = nodes.reduce((sum, n) => sum + n.bytes, 0);
  const notes: string[] = [];
  const ownCpuStart = process.cpuUsage();
  for (const pid of options.serverPids()) cpuAtStart.set(pid, (await processCpuSeconds(pid)) ?? 0);
  sampler.start();
  const t0 = Date.now();
  const deadline = t0 + options.timeoutMs;
  const waves = [...new Set(nodes.map((n) => n.wave))].sort((a, b) => a - b);
  const pollAll = async (list: readonly NodeUnderTest[]) => {
    await Promise.all(
      list.map(async (node) => {
        if (completed.has(node) || failed.has(node) || !started.has(node)) return;
        try {
          const state = await node.poll();
          held.set(node, state.bytes);
          const samples = progressOf.get(node)!;
          const t = (Date.now() - t0) / 1000;
          const last = samples[samples.length - 1];
          if (!last || t - last[0] >= 1 || state.completedAt !== undefined) {
            samples.push(state.peers === undefined ? [round(t), state.bytes] : [round(t), state.bytes, state.peers]);
          }
          if (state.completedAt !== undefined) completed.set(node, state.completedAt);
          else if (state.failed !== undefined) failed.set(node, state.failed);
        } catch {
          // a slow or restarting node answers next time
        }
      }),
    );
  };
  for (const wave of waves) {
    const members = nodes.filter((n) => n.wave === wave);
    await Promise.all(
      members.map(async (node, k) => {
        // Nodes of a wave start spread evenly over startSpread (the first at once).
        if (scenario.startSpread > 0) await sleep((k / members.length) * scenario.startSpread * 1000);
        started.set(node, Date.now());
        const pid = node.pid();
        if (pid !== undefined) cpuAtStart.set(pid, (await processCpuSeconds(pid)) ?? 0);
        try {
          await node.begin();
        } catch (err) {
          failed.set(node, `could not start its pull: ${(err as Error).message}`);
        }
        const lateStartPid = node.pid();
        if (pid === undefined && lateStartPid !== undefined) cpuAtStart.set(lateStartPid, 0);
      }),
    );
    while (members.some((n) => !completed.has(n) && !failed.has(n)) && Date.now() < deadline) {
      await sleep(200);
      await pollAll(members);
      const origin = await options.origin.sample();
      const done = [...completed.keys()].length;
      const bytes = [...held.values()].reduce((a, b) => a + b, 0);
      progress.draw(
        `${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s  wave ${wave + 1}/${waves.length}  ${done}/${nodes.length} nodes  ` +
          `${formatBytes(bytes)}/${formatBytes(totalBytes)}  origin ${(origin / options.copyBytes).toFixed(2)} copies  CPU ${Math.round(sampler.current * 100)}%`,
      );
    }
    for (const [node, why] of failed) if (members.includes(node)) notes.push(`${node.name} failed: ${why}`);
    const late = members.filter((n) => !completed.has(n) && !failed.has(n));
    if (late.length > 0) notes.push(`${late.length} node(s) of wave ${wave + 1} did not complete within ${Math.round(options.timeoutMs / 1000)} s`);
    if (members.some((n) => !completed.has(n))) break;
    if (scenario.waveGap > 0 && wave !== waves[waves.length - 1]) await sleep(scenario.waveGap * 1000);
  }
  const busy = sampler.stop();
  const elapsed = (Date.now() - t0) / 1000;
  progress.done();
  // Nodes whose process exits when done print their own CPU time as they go: give them a moment.
  if (nodes.some((n) => n.reportedCpuSeconds)) await sleep(1000);
  const timings: NodeTiming[] = [];
  let ownCpu = 0;
  for (const node of nodes) {
    const pid = node.pid();
    const cpuEnd = pid === undefined ? undefined : await processCpuSeconds(pid);
    const cpuSeconds = pid === undefined || cpuEnd === undefined ? (node.reportedCpuSeconds?.() ?? null) : cpuEnd - (cpuAtStart.get(pid) ?? 0);
    ownCpu += cpuSeconds ?? 0;
    const s = started.get(node);
    const c = completed.get(node);
    timings.push({
      startedAt: s === undefined ? NaN : (s - t0) / 1000,
      completedAt: c === undefined ? null : (c - t0) / 1000,
      cpuSeconds,
      progress: progressOf.get(node)!,
    });
  }
  for (const pid of options.serverPids()) ownCpu += ((await processCpuSeconds(pid)) ?? 0) - (cpuAtStart.get(pid) ?? 0);
  const bench = process.cpuUsage(ownCpuStart);
  ownCpu += (bench.user + bench.system) / 1e6;
  const ownCores = elapsed > 0 ? ownCpu / elapsed : 0;
  const cpu: CpuFigures = {
    cores: sampler.cores,
    busyMean: busy.busyMean,
    busyPeak: busy.busyPeak,
    ownCores,
    otherCores: Math.max(0, busy.busyMean * sampler.cores - ownCores),
    limited: busy.busyMean >= CPU_LIMIT,
  };
  return { t0, nodes: timings, cpu, notes };
}

function round(seconds: number): number {
  return Math.round(seconds * 100) / 100;
}

/** A status line redrawn in place on a terminal (stderr); silent elsewhere. */
export class ProgressLine {
  readonly #label: string;
  readonly #tty = process.stderr.isTTY === true;
  #drawn = false;

  constructor(label: string) {
    this.#label = label;
  }

  draw(text: string): void {
    if (!this.#tty) return;
    process.stderr.write(`\r[${this.#label}] ${text}\x1b[K`);
    this.#drawn = true;
  }

  /** A line that stays (stderr, terminal or not). */
  say(text: string): void {
    if (this.#drawn) process.stderr.write('\r\x1b[K');
    process.stderr.write(`[${this.#label}] ${text}\n`);
    this.#drawn = false;
  }

  done(): void {
    if (this.#tty && this.#drawn) process.stderr.write('\r\x1b[K');
    this.#drawn = false;
  }
}
