/**
 * Nodes that pull blobs over plain HTTP (bench/src/bin/http-pull.ts), for the baselines that
 * have no peer-to-peer part: every node straight from the origin, or through a central cache.
 * Each node's process starts before the rollout and waits for a signal, so the rollout times
 * the pulls and not Node's start-up.
 */
import { join } from 'node:path';
import { type ManagedProcess, waitFor } from '../../lib/managed-process.ts';
import { nodeFigures } from '../../report/stats.ts';
import type { NodeFigures } from '../../report/types.ts';
import type { NodePlan, RolloutBlob, RolloutContext } from '../context.ts';
import type { NodeUnderTest, PhaseResult } from '../phase.ts';
import { benchProgram, startScript } from '../processes.ts';

export interface HttpNode extends NodeUnderTest {
  proc: ManagedProcess;
  /** The process's own account of its peak memory and CPU, printed as it exits. */
  exit: { maxRssBytes: number; cpuSeconds: number } | undefined;
}

export async function startHttpNodes(context: RolloutContext, plans: readonly NodePlan[], dir: string, urlOf: (blob: RolloutBlob) => string): Promise<HttpNode[]> {
  const { scenario, network } = context;
  return Promise.all(
    plans.map(async (plan) => {
      let bytes = 0;
      let ready = false;
      const done = new Map<string, number>();
      const node: HttpNode = {
        name: plan.name,
        wave: plan.wave,
        bytes: plan.bytes,
        exit: undefined,
        proc: undefined as unknown as ManagedProcess, // set just below, before anyone calls pid()
        pid: () => node.proc.pid,
        reportedCpuSeconds: () => node.exit?.cpuSeconds,
        async begin() {
          process.kill(node.proc.pid, 'SIGUSR2');
        },
        async poll() {
          if (done.size === plan.blobs.length) return { bytes, completedAt: Math.max(...done.values()) };
          const exit = node.proc.exitInfo();
          if (exit && done.size < plan.blobs.length) return { bytes, failed: `http-pull exited (code ${exit.code}): ${node.proc.stderr().trim().split('\n').pop() ?? ''}` };
          return { bytes };
        },
      };
      node.proc = await startScript(
        `http-pull ${plan.name}`,
        benchProgram('http-pull'),
        [
          '--rate',
          String(network.capsInProcess ? scenario.downloadRate : 0),
          '--out',
          join(dir, plan.name),
          '--wait-signal',
          ...plan.blobs.map(urlOf),
        ],
        {
          prefix: network.nodePrefix(plan.index),
          onLine: (line) => {
            if (line.event === 'ready') ready = true;
            else if (line.event === 'progress' && typeof line.bytes === 'number') bytes = line.bytes;
            else if (line.event === 'done') {
              done.set(String(line.url), Number(line.at));
              if (done.size === plan.blobs.length) bytes = plan.bytes;
            } else if (line.event === 'exit') node.exit = { maxRssBytes: Number(line.maxRssBytes), cpuSeconds: Number(line.cpuSeconds) };
          },
        },
      );
      await waitFor(() => ready, { what: `${plan.name}'s http-pull to start`, proc: node.proc, timeoutMs: 60_000, intervalMs: 20 });
      return node;
    }),
  );
}

/** The figures of HTTP nodes after the phase (they know nothing of peers: bytes came from the server). */
export async function httpNodeFigures(plans: readonly NodePlan[], nodes: readonly HttpNode[], phase: PhaseResult): Promise<NodeFigures[]> {
  // Nodes exit once their blobs are in; their last line carries memory and CPU.
  await Promise.all(nodes.map((n) => Promise.race([n.proc.exited, new Promise((r) => setTimeout(r, 5000))])));
  return plans.map((plan, i) => {
    const node = nodes[i]!;
    const timing = phase.nodes[i]!;
    return nodeFigures({
      name: plan.name,
      wave: plan.wave,
      startedAt: timing.startedAt,
      seconds: timing.completedAt === null ? null : timing.completedAt - timing.startedAt,
      idealSeconds: plan.idealSeconds,
      bytes: null,
      uploadedBytes: null,
      peakRssBytes: node.exit?.maxRssBytes ?? null,
      cpuSeconds: node.exit?.cpuSeconds ?? timing.cpuSeconds,
      progress: timing.progress,
    });
  });
}
