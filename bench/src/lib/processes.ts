import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/**
 * The `shoal` entry point, run with the same Node binary as this process. Found by its place
 * in the repository: the CLI depends on bench/ (for `shoal bench`), so bench/ cannot depend
 * on the CLI package.
 */
export const SHOAL_MAIN = fileURLToPath(new URL('../../../packages/cli/src/main.ts', import.meta.url));

export interface ShoalProcess {
  child: ChildProcess;
  /** Lines the process wrote (JSON logs), for post-mortems. */
  output: string[];
  stop(): Promise<void>;
}

/** Starts `shoal <args>` as a child process; its logs are kept, not printed. */
export function startShoal(args: string[], env: Record<string, string> = {}): ShoalProcess {
  const child = spawn(process.execPath, [...(process.env.SHOAL_NODE_ARGS ? process.env.SHOAL_NODE_ARGS.split(' ') : []), SHOAL_MAIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString('utf8'));
    if (output.length > 2000) output.splice(0, output.length - 2000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return {
    child,
    output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await once(child, 'exit');
      clearTimeout(timer);
    },
  };
}

/** Polls `probe` until it returns a value (not undefined) or the timeout passes. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}
