/**
 * The processes of a rollout benchmark: Shoal's daemons from the repository's CLI and the
 * benchmark's own small programs (bench/src/bin), all run with this Node binary as managed
 * processes (own process group, log tails, stopped by PID).
 */
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { type ManagedProcess, startProcess, waitFor } from '../lib/managed-process.ts';
import { SHOAL_MAIN } from '../lib/processes.ts';

/** A program of bench/src/bin. */
export function benchProgram(name: 'origin-server' | 'http-pull' | 'rate-relay'): string {
  return fileURLToPath(new URL(`../bin/${name}.ts`, import.meta.url));
}

/**
 * Runs `node <script> args...`, optionally under a command prefix (`ip netns exec NS`), and
 * calls `onLine` with every JSON line it prints on stdout.
 */
export async function startScript(
  name: string,
  script: string,
  args: readonly string[],
  options: { prefix?: readonly string[]; onLine?: (line: Record<string, unknown>) => void } = {},
): Promise<ManagedProcess> {
  const command = [...(options.prefix ?? []), process.execPath, script, ...args];
  const proc = await startProcess({ name, command: command[0]!, args: command.slice(1) });
  if (options.onLine) readJsonLines(proc.child.stdout!, options.onLine);
  return proc;
}

/** Parses a stream's JSON lines as they come (other lines are skipped). */
export function readJsonLines(stream: Readable, onLine: (line: Record<string, unknown>) => void): void {
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (!line.startsWith('{')) continue;
      try {
        onLine(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not JSON after all: a log line of another shape
      }
    }
  });
}

/** Starts a script that announces its URL in its first JSON line, and waits for it. */
export async function startServerScript(name: string, script: string, args: readonly string[], prefix?: readonly string[]): Promise<{ proc: ManagedProcess; url: string }> {
  let url: string | undefined;
  const proc = await startScript(name, script, args, {
    ...(prefix ? { prefix } : {}),
    onLine: (line) => {
      if (typeof line.url === 'string') url ??= line.url;
    },
  });
  await waitFor(() => url !== undefined, { what: `${name} to listen`, proc, timeoutMs: 30_000, intervalMs: 20 });
  return { proc, url: url! };
}

export interface ShoalDaemonOptions {
  /** Address the daemon binds (HTTP and peer wire). */
  host: string;
  port: number;
  peerPort: number;
  store: string;
  args: readonly string[];
  prefix?: readonly string[];
}

/** Starts `shoal tracker|agent` and waits until it is ready. */
export async function startShoalDaemon(kind: 'tracker' | 'agent', options: ShoalDaemonOptions): Promise<{ proc: ManagedProcess; url: string }> {
  const url = `http://${options.host}:${options.port}`;
  const command = [
    ...(options.prefix ?? []),
    process.execPath,
    SHOAL_MAIN,
    kind,
    '--listen',
    `${options.host}:${options.port}`,
    '--peer-port',
    String(options.peerPort),
    '--store',
    options.store,
    '--log-level',
    'warn',
    ...options.args,
  ];
  const proc = await startProcess({ name: `shoal ${kind}`, command: command[0]!, args: command.slice(1) });
  await waitFor(async () => (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined))?.ok === true, {
    what: `shoal ${kind} ready at ${url}`,
    proc,
    timeoutMs: 60_000,
  });
  return { proc, url };
}

/** GET a URL's JSON body (the daemons' status endpoints). */
export async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

/** Parses a Prometheus text exposition into `name{labels}` -> value. */
export async function scrapeMetrics(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}
