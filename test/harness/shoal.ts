/**
 * Shoal's own daemons as real processes: `shoal tracker` and `shoal agent` started from the
 * repository's CLI with the test runner's Node, each on free ports with its own store, and
 * helpers to read what a daemon reports (status, Prometheus metrics).
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { type ManagedProcess, freePort, makeTempDir, removeDir, retryOnPortClash, startProcess, waitFor } from './process.ts';

export const SHOAL_MAIN = fileURLToPath(new URL('../../packages/cli/src/main.ts', import.meta.url));

export interface ShoalDaemon {
  /** HTTP base URL (127.0.0.1). */
  url: string;
  peerPort: number;
  /** The daemon's directory (its store lives under it). */
  dir: string;
  process: ManagedProcess;
  /** Stops the process (SIGTERM, then SIGKILL); keeps the directory. */
  stop(): Promise<void>;
  /** Kills the process with SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** Stops and removes the directory. */
  dispose(): Promise<void>;
}

/** What a daemon may keep across a restart, and its environment. */
interface DaemonExtras {
  /** HTTP port (to restart a daemon where its peers expect it); default a free one. */
  port?: number;
  /** Extra environment (SHOAL_* twins of secret flags, say). */
  env?: Record<string, string>;
}

async function startDaemon(kind: 'tracker' | 'agent', args: string[], dir: string, peerPort?: number, extras: DaemonExtras = {}): Promise<ShoalDaemon> {
  return retryOnPortClash(async () => {
    const port = extras.port ?? (await freePort());
    const peer = peerPort ?? (await freePort());
    const proc = await startProcess({
      name: `shoal ${kind}`,
      command: process.execPath,
      args: [SHOAL_MAIN, kind, '--listen', `127.0.0.1:${port}`, '--peer-port', String(peer), '--store', join(dir, 'store'), ...args],
      ...(extras.env ? { env: extras.env } : {}),
    });
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.ok === true, {
      what: `shoal ${kind} ready at ${url}`,
      proc,
      timeoutMs: 30_000,
    });
    return {
      url,
      peerPort: peer,
      dir,
      process: proc,
      stop: () => proc.stop(),
      kill: async () => {
        process.kill(-proc.pid, 'SIGKILL');
        await proc.exited;
      },
      dispose: async () => {
        await proc.stop();
        await removeDir(dir);
      },
    };
  });
}

export interface TrackerOptions extends DaemonExtras {
  /** A directory origin (OCI layout or files named by digest). */
  originDir?: string;
  args?: string[];
  /** Reuse a directory (and its store), to restart a tracker. */
  dir?: string;
  peerPort?: number;
}

export async function startShoalTracker(options: TrackerOptions = {}): Promise<ShoalDaemon> {
  const dir = options.dir ?? (await makeTempDir('shoal-tracker-'));
  const args = ['--advertise-host', '127.0.0.1', '--log-level', 'info', ...(options.args ?? [])];
  if (options.originDir) args.push('--origin-dir', options.originDir);
  return startDaemon('tracker', args, dir, options.peerPort, options);
}

export interface AgentOptions {
  trackers: string[];
  args?: string[];
  /** Reuse a directory (and its store), to restart an agent. */
  dir?: string;
  peerPort?: number;
}

export async function startShoalAgent(options: AgentOptions): Promise<ShoalDaemon> {
  const dir = options.dir ?? (await makeTempDir('shoal-agent-'));
  const args = ['--tracker', options.trackers.join(','), '--log-level', 'info', ...(options.args ?? [])];
  return startDaemon('agent', args, dir, options.peerPort);
}

/** Parses a Prometheus text exposition into `name{labels}` → value. */
export async function scrapeMetrics(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

/** The value of one series, 0 when absent. */
export function metric(values: Map<string, number>, series: string): number {
  return values.get(series) ?? 0;
}
