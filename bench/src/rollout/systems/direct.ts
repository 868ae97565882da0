/**
 * Baseline: every node pulls its blobs straight from the origin, over its own capped link,
 * with no cache and no peers: what a fleet does without a distribution layer. The origin
 * serves one copy per node.
 */
import { join } from 'node:path';
import { removeDir } from '../../lib/managed-process.ts';
import { summarize } from '../../report/stats.ts';
import type { SystemResult } from '../../report/types.ts';
import { type RolloutContext, copyBytes, nodePlans } from '../context.ts';
import { OriginMonitor, runPhase } from '../phase.ts';
import { cpuNote, linkWords } from '../words.ts';
import { httpNodeFigures, startHttpNodes } from './http-nodes.ts';

export async function runDirect(context: RolloutContext): Promise<SystemResult> {
  const dir = join(context.root, 'direct');
  const monitor = new OriginMonitor(context.originBytes);
  await monitor.start();
  const plans = nodePlans(context);
  const nodes = await startHttpNodes(context, plans, dir, (blob) => `${context.originUrl}/blobs/${blob.digest}`);
  try {
    const phase = await runPhase({
      system: 'direct',
      scenario: context.scenario,
      nodes,
      origin: monitor,
      copyBytes: copyBytes(context),
      serverPids: () => [],
      timeoutMs: context.timeoutMs,
    });
    const figures = await httpNodeFigures(plans, nodes, phase);
    const originBytes = await monitor.stop();
    return summarize({
      system: 'direct',
      label: `${plans.length} nodes pull straight from the origin (${context.scenario.originRate / 1e6} MB/s), ${linkWords(context)}`,
      nodes: figures,
      origin: { bytes: originBytes, copies: originBytes / copyBytes(context), timeline: monitor.timeline(phase.t0) },
      server: null,
      cpu: phase.cpu,
      notes: phase.cpu.limited ? [...phase.notes, cpuNote(phase.cpu.busyMean)] : phase.notes,
    });
  } finally {
    await monitor.stop();
    await Promise.all(nodes.map((n) => n.proc.stop()));
    await removeDir(dir);
  }
}
