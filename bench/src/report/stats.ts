import { cpus, totalmem, release } from 'node:os';
import type { BytesBySource, MachineInfo, NodeFigures, Percentiles, SystemResult } from './types.ts';

/** The nearest-rank percentile (p in 0..1) of sorted values: an actual sample, never interpolated. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(p * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function percentiles(values: readonly number[]): Percentiles | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), p99: percentile(sorted, 0.99), p999: percentile(sorted, 0.999), max: sorted[sorted.length - 1]! };
}

/** Fills in a system's summary figures from its nodes. Percentiles cover completed nodes only; `complete` says how many. */
export function summarize(
  base: Pick<SystemResult, 'system' | 'label' | 'nodes' | 'origin' | 'server' | 'cpu' | 'notes'> & Partial<SystemResult>,
): SystemResult {
  const done = base.nodes.filter((n) => n.seconds !== null);
  const rss = base.nodes.map((n) => n.peakRssBytes).filter((v): v is number => v !== null);
  const ends = done.map((n) => n.startedAt + n.seconds!);
  const starts = base.nodes.map((n) => n.startedAt);
  return {
    ...base,
    complete: done.length,
    completion: percentiles(done.map((n) => n.seconds!)),
    ratio: percentiles(done.map((n) => n.ratio!)),
    makespanSeconds: done.length === base.nodes.length && done.length > 0 ? Math.max(...ends) - Math.min(...starts) : null,
    memory: rss.length === 0 ? null : { peakRssMaxBytes: Math.max(...rss), peakRssMeanBytes: rss.reduce((a, b) => a + b, 0) / rss.length },
  };
}

/** A node's figures, with its ratio to ideal. */
export function nodeFigures(fields: Omit<NodeFigures, 'ratio'>): NodeFigures {
  return { ...fields, ratio: fields.seconds === null ? null : fields.seconds / fields.idealSeconds };
}

export function sumBytes(list: readonly BytesBySource[]): BytesBySource {
  return list.reduce((a, b) => ({ peer: a.peer + b.peer, seeder: a.seeder + b.seeder, origin: a.origin + b.origin }), { peer: 0, seeder: 0, origin: 0 });
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return { cpus: list.length, cpuModel: list[0]?.model ?? 'unknown', memoryBytes: totalmem(), node: process.version, kernel: release() };
}
