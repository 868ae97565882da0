/**
 * What the machine and each process spent during a rollout, from Linux's /proc: the share
 * of all cores busy (sampled), a process's CPU time and its peak resident memory (VmHWM).
 * A rollout of 16 agents on a 2-core machine can run out of CPU before it runs out of link;
 * these figures say when a result is the machine's limit rather than the design's.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';

/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on practically every Linux). */
const CLOCK_TICKS = (() => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const ticks = Number(out.stdout?.trim());
  return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
})();

/** Busy and total CPU time of the whole machine so far, in seconds (all cores). */
export function machineCpuTimes(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = fields[3]! + (fields[4] ?? 0);
    return { busy: (total - idle) / CLOCK_TICKS, total: total / CLOCK_TICKS };
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a process has used, undefined once it is gone. */
export async function processCpuSeconds(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** A process's peak resident memory so far (VmHWM), undefined once it is gone. */
export async function peakRssBytes(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples how busy the machine's cores are, from start() to stop(). */
export class CpuSampler {
  readonly cores = cpus().length;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #first: { busy: number; total: number } | undefined;
  #last: { busy: number; total: number } | undefined;
  #peak = 0;
  /** The latest sample's busy share, for a progress line. */
  current = 0;

  constructor(intervalMs = 500) {
    this.#intervalMs = intervalMs;
  }

  start(): void {
    this.#first = this.#last = machineCpuTimes();
    this.#peak = 0;
    this.#timer = setInterval(() => {
      const now = machineCpuTimes();
      if (!now || !this.#last || now.total <= this.#last.total) return;
      this.current = (now.busy - this.#last.busy) / (now.total - this.#last.total);
      this.#peak = Math.max(this.#peak, this.current);
      this.#last = now;
    }, this.#intervalMs);
    this.#timer.unref();
  }

  /** Mean and peak share of all cores busy since start(), and the wall seconds covered. */
  stop(): { busyMean: number; busyPeak: number } {
    clearInterval(this.#timer);
    const end = machineCpuTimes();
    if (!this.#first || !end || end.total <= this.#first.total) return { busyMean: 0, busyPeak: 0 };
    const busyMean = (end.busy - this.#first.busy) / (end.total - this.#first.total);
    return { busyMean, busyPeak: Math.max(this.#peak, busyMean) };
  }
}
