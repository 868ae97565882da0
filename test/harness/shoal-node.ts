/**
 * A Kubernetes node as Shoal sees it, on loopback: a `shoal agent` process and a containerd
 * whose registry hosts are configured only by `shoal agent configure-containerd` (the CLI,
 * as the DaemonSet's init container runs it). Plus helpers to read what the agent logged.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Containerd, startContainerd } from './containerd.ts';
import { makeTempDir, removeDir, run } from './process.ts';
import { SHOAL_MAIN, type ShoalDaemon, startShoalAgent } from './shoal.ts';

/** Writes an `--upstream-config` file (`{"<registry host>": "<url>"}`) and returns its path. */
export async function writeUpstreamConfig(dir: string, upstreams: Record<string, string>): Promise<string> {
  const path = join(dir, 'upstreams.json');
  await writeFile(path, JSON.stringify(upstreams));
  return path;
}

/** Runs `shoal agent configure-containerd ...args` and returns the lines it printed. */
export async function configureContainerdCli(args: readonly string[]): Promise<string[]> {
  const { stdout } = await run(process.execPath, [SHOAL_MAIN, 'agent', 'configure-containerd', ...args], { timeoutMs: 30_000 });
  return stdout.split('\n').filter(Boolean);
}

export interface ShoalNodeOptions {
  /** Tracker base URLs for the agent (a dead URL to test fallbacks). */
  trackers: string[];
  /** `--upstream-config` entries (registry host -> URL). */
  upstreams: Record<string, string>;
  /** `--registry` values for configure-containerd (`_default` or hosts). */
  registries: string[];
  /** Extra agent flags (`--fallback none`, `--download-rate ...`). */
  agentArgs?: string[];
}

export interface ShoalNode {
  agent: ShoalDaemon;
  containerd: Containerd;
  /** containerd's certs.d: `ctr --hosts-dir` and the CRI plugin's `config_path` both read it. */
  hostsDir: string;
  /** What configure-containerd printed. */
  configureOutput: string[];
  stop(): Promise<void>;
}

/**
 * Starts an agent, runs configure-containerd against an empty certs.d pointing at it, and
 * starts containerd with that directory as both its `ctr` hosts dir and its CRI `config_path`.
 */
export async function startShoalNode(options: ShoalNodeOptions): Promise<ShoalNode> {
  const dir = await makeTempDir('shoal-node-');
  const hostsDir = join(dir, 'certs.d');
  const upstreamConfig = await writeUpstreamConfig(dir, options.upstreams);
  const agent = await startShoalAgent({
    trackers: options.trackers,
    args: ['--upstream-config', upstreamConfig, ...(options.agentArgs ?? [])],
  });
  let containerd: Containerd | undefined;
  try {
    const configureOutput = await configureContainerdCli([
      '--certs-dir',
      hostsDir,
      '--mirror',
      agent.url,
      ...options.registries.flatMap((r) => ['--registry', r]),
      '--upstream-config',
      upstreamConfig,
    ]);
    containerd = await startContainerd({ hostsDir });
    const started = containerd;
    return {
      agent,
      containerd: started,
      hostsDir,
      configureOutput,
      async stop() {
        await started.stop();
        await agent.dispose();
        await removeDir(dir);
      },
    };
  } catch (err) {
    await containerd?.stop();
    await agent.dispose();
    await removeDir(dir);
    throw err;
  }
}

/** The JSON log lines a daemon printed with this `msg`. */
export function logLines(daemon: ShoalDaemon, msg: string): Array<Record<string, any>> {
  return daemon.process
    .stdout()
    .split('\n')
    .flatMap((line) => {
      try {
        const parsed = JSON.parse(line) as Record<string, any>;
        return parsed.msg === msg ? [parsed] : [];
      } catch {
        return [];
      }
    });
}
