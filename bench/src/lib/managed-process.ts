/**
 * Managed child processes for the benchmarks and the end-to-end harness (which re-exports
 * this module): spawn with captured logs, wait for readiness by polling, stop by PID
 * (SIGTERM, then SIGKILL), plus small helpers every server wrapper needs (free ports, temp
 * dirs, run-to-completion commands).
 *
 * Every server is a real binary (registry, containerd, opentracker, ...) run in its own
 * process group, so `stop()` also reaches anything it forked, and a crash of the test worker
 * or benchmark still kills what it started (see the `exit` hook below).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** How much of each output stream a {@link ManagedProcess} keeps in memory (the tail). */
const LOG_KEEP_BYTES = 256 * 1024;

/** Options for {@link startProcess}. */
export interface StartProcessOptions {
  /** Short name used in error messages, e.g. `"registry"`. */
  name: string;
  /** Executable (looked up on PATH) or absolute path. */
  command: string;
  args?: readonly string[];
  cwd?: string;
  /** Extra environment variables, merged over `process.env`. */
  env?: Record<string, string | undefined>;
}

/** A running child process whose stdout/stderr tails are kept for diagnostics. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ProcessExit>;
  /** `null` while running. */
  exitInfo(): ProcessExit | null;
  /** The last {@link LOG_KEEP_BYTES} of stdout. */
  stdout(): string;
  /** The last {@link LOG_KEEP_BYTES} of stderr. */
  stderr(): string;
  /** The last `lines` lines of stderr and stdout, labelled, for error messages. */
  logTail(lines?: number): string;
  /**
   * SIGTERM the process group, wait up to `graceMs`, then SIGKILL it. Idempotent; resolves
   * once the process has exited.
   */
  stop(graceMs?: number): Promise<void>;
}

/** How a process ended. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Appends to a string, keeping only the last `max` characters. */
class Tail {
  #text = '';
  readonly #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  push(chunk: Buffer | string): void {
    this.#text += chunk.toString();
    if (this.#text.length > this.#max * 2) this.#text = this.#text.slice(-this.#max);
  }
  toString(): string {
    return this.#text.length > this.#max ? this.#text.slice(-this.#max) : this.#text;
  }
}

/** Processes started by this module and not yet exited, killed if the test process exits. */
const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

function killAllLive(): void {
  for (const p of live) killGroup(p.pid, 'SIGKILL');
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Children run in their own process groups (so stop() reaches their children too), which
  // also means a Ctrl-C or a SIGTERM to the test worker does not reach them. Only synchronous
  // work is possible on 'exit': SIGKILL whatever is left so a failed or interrupted run does
  // not leave daemons holding ports and mounts.
  process.on('exit', killAllLive);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      killAllLive();
      // If nobody else handles this signal, restore the default action (terminate) and re-raise
      // it; otherwise leave the decision to the other handlers.
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}

/**
 * Signals the process group led by `pid` (every child is spawned `detached`, so it leads its
 * own group); falls back to the single PID if the group is gone. Never throws.
 */
function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
    return;
  } catch {
    // fall through: no such group (already exited) or not a group leader
  }
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function lastLines(text: string, n: number): string {
  const lines = text.trimEnd().split('\n');
  return lines.slice(-n).join('\n');
}

/**
 * Spawns `command` in its own process group with stdout/stderr captured (not inherited, so
 * test output stays readable; use {@link ManagedProcess.logTail} when something fails).
 * Throws if the executable cannot be spawned at all.
 */
export async function startProcess(opts: StartProcessOptions): Promise<ManagedProcess> {
  installExitHook();
  const child = spawn(opts.command, [...(opts.args ?? [])], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  // 'spawn' or 'error' tells us whether exec succeeded; waiting for it turns ENOENT into a
  // thrown error here rather than an unhandled 'error' event later.
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (err) => reject(new Error(`${opts.name}: cannot start ${opts.command}: ${err.message}`)));
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${opts.name}: no pid after spawn`);

  const out = new Tail(LOG_KEEP_BYTES);
  const err = new Tail(LOG_KEEP_BYTES);
  child.stdout?.on('data', (c: Buffer) => out.push(c));
  child.stderr?.on('data', (c: Buffer) => err.push(c));

  let exit: ProcessExit | null = null;
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      live.delete(managed);
      resolve(exit);
    });
  });
  // The child stays ref'd: while a daemon runs the event loop stays alive, so awaiting its
  // exit works in plain scripts too. Tests must stop() what they start; the hooks above catch
  // what a crashed or killed test run leaves.

  const managed: ManagedProcess = {
    name: opts.name,
    pid,
    child,
    exited,
    exitInfo: () => exit,
    stdout: () => out.toString(),
    stderr: () => err.toString(),
    logTail(lines = 40) {
      return [
        `--- ${opts.name} (pid ${pid}) stderr tail ---`,
        lastLines(err.toString(), lines) || '(empty)',
        `--- ${opts.name} stdout tail ---`,
        lastLines(out.toString(), lines) || '(empty)',
      ].join('\n');
    },
    async stop(graceMs = 5000) {
      if (exit) return;
      killGroup(pid, 'SIGTERM');
      const timer = sleep(graceMs).then(() => 'timeout' as const);
      if ((await Promise.race([exited, timer])) === 'timeout') {
        killGroup(pid, 'SIGKILL');
        await exited;
      }
      // Children that ignored SIGTERM while the leader exited: make sure the group is gone.
      killGroup(pid, 'SIGKILL');
    },
  };
  live.add(managed);
  return managed;
}

/** Options for {@link waitFor}. */
export interface WaitForOptions {
  /** What is being waited for, for the error message, e.g. `"registry /v2/ to answer"`. */
  what: string;
  timeoutMs?: number;
  intervalMs?: number;
  /** If given, fail fast when it exits, and include its log tail in errors. */
  proc?: ManagedProcess;
}

/**
 * Polls `probe` until it returns true (exceptions count as "not yet"). Throws after
 * `timeoutMs` (default 30 s) or as soon as `proc` exits, with the last probe error and the
 * process's log tail in the message.
 */
export async function waitFor(probe: () => Promise<boolean> | boolean, opts: WaitForOptions): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const intervalMs = opts.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    const exit = opts.proc?.exitInfo();
    if (exit) {
      throw new Error(
        `${opts.proc?.name}: exited (code ${exit.code}, signal ${exit.signal}) while waiting for ${opts.what}\n` +
          opts.proc?.logTail(),
      );
    }
    try {
      if (await probe()) return;
      lastError = undefined;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${opts.what}${why}` + (opts.proc ? `\n${opts.proc.logTail()}` : ''),
      );
    }
    await sleep(intervalMs);
  }
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it; we close it again).
 * Another process may grab it before ours binds — rare on a test machine; servers that fail
 * with "address in use" show it in their log tail.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('freePort: no address'));
        return;
      }
      srv.close(() => resolve(addr.port));
    });
  });
}

/**
 * Calls `start` (which picks its own port with {@link freePort}) again, up to `attempts` times,
 * when it fails because the port was taken between picking and binding (the error message,
 * which carries the server's log tail, mentions "address already in use", EADDRINUSE or a
 * failed bind). Other errors are thrown at once.
 */
export async function retryOnPortClash<T>(start: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await start();
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (i >= attempts || !/address already in use|EADDRINUSE|failed to bind|bind\(\)|cannot bind/i.test(msg)) throw e;
    }
  }
}

/** A fresh directory under the OS temp dir, named `shoal-<prefix>-XXXXXX`. */
export async function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `shoal-${prefix}-`));
}

/** Removes a directory tree; missing is fine. */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Options for {@link run}. */
export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Kill the command after this long (default 120 s). */
  timeoutMs?: number;
  /** Bytes written to stdin, then stdin is closed. */
  input?: string | Buffer;
}

/** Result of {@link run}. */
export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/**
 * Runs a command to completion and returns its output; throws with the command line, exit
 * status and stderr if it fails or times out. For short tools (skopeo, ctr, htpasswd, ...).
 */
export async function run(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const res = await runAllowFail(command, args, opts);
  if (res.code !== 0) {
    throw new Error(
      `command failed (exit ${res.code}): ${command} ${args.join(' ')}\n` +
        `stderr: ${lastLines(res.stderr, 30)}\nstdout: ${lastLines(res.stdout, 10)}`,
    );
  }
  return res;
}

/** Like {@link run} but resolves with a non-zero `code` instead of throwing (timeouts: 124). */
export async function runAllowFail(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${command}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString() + (timedOut ? `\n(killed after ${timeoutMs} ms)` : '');
      resolve({
        stdout: Buffer.concat(out).toString(),
        stderr,
        code: timedOut ? 124 : (code ?? (signal ? 128 : 1)),
      });
    });
    child.stdin.on('error', () => {
      // the command may exit without reading stdin; that is not our failure
    });
    child.stdin.end(opts.input ?? '');
  });
}
