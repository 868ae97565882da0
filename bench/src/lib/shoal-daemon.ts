import { type ShoalProcess, startShoal, waitFor } from './processes.ts';

/** A `shoal tracker` or `shoal agent` process and the URL it listens on. */
export interface ShoalDaemon extends ShoalProcess {
  url: string;
}

/**
 * Starts `shoal <kind> --listen 127.0.0.1:0 --peer-port 0 ...args` and waits for its
 * "started" log line, which carries the URL it bound.
 */
export async function startShoalDaemon(kind: 'tracker' | 'agent', args: string[]): Promise<ShoalDaemon> {
  const proc = startShoal([kind, '--listen', '127.0.0.1:0', '--peer-port', '0', '--log-level', 'info', ...args]);
  try {
    const url = await waitFor(`${kind} address`, async () => {
      if (proc.child.exitCode !== null) throw new Error(`shoal ${kind} exited: ${proc.output.join('').slice(-2000)}`);
      for (const line of proc.output.join('').split('\n')) {
        if (line.includes(`"msg":"${kind} started"`)) return (JSON.parse(line) as { url: string }).url;
      }
      return undefined;
    });
    return Object.assign(proc, { url });
  } catch (err) {
    await proc.stop();
    throw err;
  }
}
