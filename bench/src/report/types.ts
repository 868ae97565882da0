/**
 * The report of a rollout benchmark or simulation, as written to JSON: one entry per system
 * (Shoal, the baselines, the simulated Shoal), each with the same figures, so they can be
 * read side by side. Times in seconds, sizes in bytes, rates in bytes/s.
 */
import type { Target } from '../scenario.ts';

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Bytes a node stored, by where they came from. */
export interface BytesBySource {
  peer: number;
  seeder: number;
  origin: number;
}

export interface NodeFigures {
  name: string;
  wave: number;
  /** When the node was asked to pull, seconds since the rollout started. */
  startedAt: number;
  /** Seconds from its start until all its blobs were verified; null if it never got there. */
  seconds: number | null;
  /** Its bytes over its own download link. */
  idealSeconds: number;
  ratio: number | null;
  /** Null where the system cannot say (aria2, the plain HTTP pulls). */
  bytes: BytesBySource | null;
  uploadedBytes: number | null;
  /** The process's peak resident memory (VmHWM). */
  peakRssBytes: number | null;
  /** CPU the node's process used during the rollout. */
  cpuSeconds: number | null;
  /**
   * Real rollouts: [seconds since the rollout started, bytes held, peers when known], about
   * once a second: where a slow node stalled or ran short of peers.
   */
  progress?: Array<[number, number] | [number, number, number]>;
}

/** Whether a result was limited by this machine rather than by the design. */
export interface CpuFigures {
  cores: number;
  /** Fraction of all cores busy, over the rollout. */
  busyMean: number;
  busyPeak: number;
  /** Cores used by this system's processes (and the benchmark itself), on average. */
  ownCores: number;
  /** Cores used by everything else on the machine, on average. */
  otherCores: number;
  /** The machine was (nearly) out of CPU: the figures are a floor of what the design does. */
  limited: boolean;
}

export interface SystemResult {
  /** shoal, direct, cache, aria2, or shoal-simulated. */
  system: string;
  /** What ran, in words. */
  label: string;
  nodes: NodeFigures[];
  complete: number;
  /** Per-node completion times (from each node's start). */
  completion: Percentiles | null;
  /** Per-node ratios to their ideal. */
  ratio: Percentiles | null;
  /** From the first node's start to the last node's completion. */
  makespanSeconds: number | null;
  origin: {
    bytes: number;
    /** Origin bytes over the bytes of the distinct blobs rolled out. */
    copies: number;
    /** [seconds since the rollout started, bytes read from the origin so far]; preheating shows before 0. */
    timeline: Array<[number, number]>;
  };
  /** What the seeder, the central cache or the aria2 seeder uploaded. */
  server: { uploadedBytes: number; copies: number } | null;
  cpu: CpuFigures | null;
  memory: { peakRssMaxBytes: number; peakRssMeanBytes: number } | null;
  /** Anything the reader should know about this run (a machine limit, a fallback, a failure). */
  notes: string[];
  /** Simulations: how long the model took and what it did. */
  simulation?: { events: number; rebalances: number; wallSeconds: number; wastedBytes: number; pieceLengths: number[] };
}

export interface CheckResult {
  target: Target;
  /** In words: "shoal: slowest node <= 1.10x ideal". */
  description: string;
  value: number | null;
  /** The figure it is compared with (fasterThan: the baseline's slowest node). */
  reference: number | null;
  pass: boolean | null;
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  node: string;
  kernel: string;
}

export interface BenchReport {
  kind: 'rollout' | 'simulation';
  version: 1;
  createdAt: string;
  /** The scenario as run (file form: sizes in bytes, durations in seconds). */
  scenario: Record<string, unknown>;
  machine: MachineInfo;
  /** S / B of a node, when every node pulls the same bytes; else the largest. */
  idealSeconds: number;
  /** How the links were capped: token buckets in each process, or network namespaces with tc. */
  links: 'token-bucket' | 'netns-tbf' | 'model';
  systems: SystemResult[];
  checks: CheckResult[];
  /** The simulated prediction against the measured rollout (`--simulate`). */
  validation?: { metric: string; measured: number; predicted: number; difference: number; tolerance: number; pass: boolean }[];
}
