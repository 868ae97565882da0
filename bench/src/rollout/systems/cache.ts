/**
 * Baseline: a central pull-through cache. A real registry (distribution, Debian's
 * docker-registry) runs in proxy mode in front of the origin, behind a rate relay that gives
 * it a link as fast as Shoal's seeder; every node pulls its blobs through it over its own
 * capped link. Preheated runs pull each blob through the cache once before the rollout.
 *
 * The cache reads the origin once per blob when warm; when cold, distribution 2.8 streams a
 * blob that is still being fetched straight from the origin to every client that asks
 * meanwhile, so the origin's egress shows the thundering herd.
 */
import { join } from 'node:path';
import { type ManagedProcess, removeDir } from '../../lib/managed-process.ts';
import { startRegistry } from '../../lib/registry.ts';
import { peakRssBytes } from '../../lib/proc-stats.ts';
import { summarize } from '../../report/stats.ts';
import type { SystemResult } from '../../report/types.ts';
import { type RolloutContext, copyBytes, nodePlans } from '../context.ts';
import { OriginMonitor, runPhase } from '../phase.ts';
import { benchProgram, startServerScript } from '../processes.ts';
import { cpuNote, linkWords } from '../words.ts';
import { httpNodeFigures, startHttpNodes } from './http-nodes.ts';

/** The repository the blobs are pulled under (the cache serves any name its upstream has). */
const REPOSITORY = 'bench/rollout';

export async function runCache(context: RolloutContext): Promise<SystemResult> {
  const { scenario, network } = context;
  const dir = join(context.root, 'cache');
  const monitor = new OriginMonitor(context.originBytes);
  await monitor.start();
  const servers: ManagedProcess[] = [];
  let nodes: Awaited<ReturnType<typeof startHttpNodes>> = [];
  try {
    const registry = await startRegistry({ proxyRemoteUrl: context.originUrl });
    servers.push(registry.process);
    const relay = await startServerScript(
      'cache link',
      benchProgram('rate-relay'),
      ['--target', registry.host, '--rate', String(network.capsInProcess ? scenario.seederRate : 0), '--host', network.serverHost],
      network.serverPrefix(),
    );
    servers.push(relay.proc);
    const urlOf = (digest: string) => `${relay.url}/v2/${REPOSITORY}/blobs/${digest}`;
    if (scenario.warm) {
      context.log.say('preheating the cache (one pull of each blob through it)');
      for (const blob of context.blobs) {
        const response = await fetch(urlOf(blob.digest));
        if (!response.ok) throw new Error(`the cache answered ${response.status} for ${blob.digest}`);
        for await (const _ of response.body!) void _;
      }
    }
    const plans = nodePlans(context);
    nodes = await startHttpNodes(context, plans, dir, (blob) => urlOf(blob.digest));
    const phase = await runPhase({
      system: 'cache',
      scenario,
      nodes,
      origin: monitor,
      copyBytes: copyBytes(context),
      serverPids: () => [registry.process.pid, relay.proc.pid],
      timeoutMs: context.timeoutMs,
    });
    const figures = await httpNodeFigures(plans, nodes, phase);
    const originBytes = await monitor.stop();
    const served = figures.reduce((sum, n, i) => sum + (n.seconds === null ? 0 : plans[i]!.bytes), 0);
    const registryRss = await peakRssBytes(registry.process.pid);
    const notes = phase.cpu.limited ? [...phase.notes, cpuNote(phase.cpu.busyMean)] : [...phase.notes];
    if (registryRss !== undefined) notes.push(`registry peak memory ${(registryRss / 2 ** 20).toFixed(0)} MiB`);
    return summarize({
      system: 'cache',
      label: `distribution ${scenario.warm ? '(preheated)' : '(cold)'} as a pull-through cache of the origin, its link ${scenario.seederRate / 1e6} MB/s, ${plans.length} nodes at ${linkWords(context)}`,
      nodes: figures,
      origin: { bytes: originBytes, copies: originBytes / copyBytes(context), timeline: monitor.timeline(phase.t0) },
      server: { uploadedBytes: served, copies: served / copyBytes(context) },
      cpu: phase.cpu,
      notes,
    });
  } finally {
    await monitor.stop();
    await Promise.all(nodes.map((n) => n.proc.stop()));
    for (const server of servers.reverse()) await server.stop();
    await removeDir(dir);
  }
}
