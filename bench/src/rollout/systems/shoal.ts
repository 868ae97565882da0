/**
 * Shoal under test: one `shoal tracker` (announce server, metainfo, seeder reading the
 * benchmark origin over HTTP) and one `shoal agent` per node, each with its own store and
 * capped links; each node pulls its blobs through its agent.
 *
 * A pull is asked for with HEAD /v1/blobs/<digest>: the agent fetches the whole blob into its
 * store (no client reads the body, so the benchmark's own CPU stays out of the way, and pieces
 * are chosen rarest-first as for any pull that is not streamed). Completion is the agent's own
 * figure: the download's duration from /v1/status, from when the HEAD returned.
 *
 * Before the rollout every agent pulls a small warm-up blob: agents are long-running daemons,
 * and the first pull after a process starts pays for compiling its code paths (about half a
 * second per agent here, more when 16 start at once on two cores), which a DaemonSet pays
 * once, not at every rollout. The warm-up's bytes stay out of the figures (the origin is
 * followed from after it).
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ManagedProcess, freePort, removeDir, retryOnPortClash } from '../../lib/managed-process.ts';
import { peakRssBytes } from '../../lib/proc-stats.ts';
import { nodeFigures, summarize } from '../../report/stats.ts';
import type { BytesBySource, SystemResult } from '../../report/types.ts';
import { type RolloutBlob, type RolloutContext, copyBytes, nodePlans } from '../context.ts';
import { type NodeUnderTest, OriginMonitor, runPhase } from '../phase.ts';
import { getJson, startShoalDaemon } from '../processes.ts';
import { cpuNote, linkWords } from '../words.ts';

interface AgentStatus {
  blobs: Array<{ digest: string; complete: boolean; bytes: BytesBySource; uploadedBytes: number; durationMs: number; peers: number; fallback?: string }>;
}

interface SeededBlobs {
  blobs: Array<{ digest: string; state: string; originBytes: number; uploadedBytes: number; error?: { message: string } }>;
}

export async function runShoal(context: RolloutContext): Promise<SystemResult> {
  const { scenario, network } = context;
  const dir = join(context.root, 'shoal');
  const processes: ManagedProcess[] = [];
  const monitor = new OriginMonitor(context.originBytes);
  try {
    const caps = network.capsInProcess;
    const tracker = await retryOnPortClash(async () =>
      startShoalDaemon('tracker', {
        host: network.serverHost,
        port: await freePort(),
        peerPort: await freePort(),
        store: join(dir, 'tracker'),
        prefix: network.serverPrefix(),
        args: [
          '--advertise-host',
          network.serverHost,
          '--origin-url',
          `${context.originUrl}/blobs/{digest}`,
          ...(caps ? ['--upload-rate', String(scenario.seederRate)] : []),
        ],
      }),
    );
    processes.push(tracker.proc);
    const plans = nodePlans(context);
    context.log.say(`starting ${plans.length} agents`);
    const agents = await Promise.all(
      plans.map((plan) =>
        retryOnPortClash(async () =>
          startShoalDaemon('agent', {
            host: network.nodeHost(plan.index),
            port: await freePort(),
            peerPort: await freePort(),
            store: join(dir, plan.name),
            prefix: network.nodePrefix(plan.index),
            args: [
              '--tracker',
              tracker.url,
              ...(caps ? ['--download-rate', String(scenario.downloadRate), '--upload-rate', String(scenario.uploadRate)] : []),
            ],
          }),
        ),
      ),
    );
    processes.push(...agents.map((a) => a.proc));
    context.log.say('warming the agents up (each pulls a small blob)');
    await preheat(tracker.url, [context.warmup], context.timeoutMs);
    await Promise.all(agents.map((agent) => pullWhole(`${agent.url}/v1/blobs/${context.warmup.digest}`)));
    await monitor.start();
    if (scenario.warm) {
      context.log.say(`preheating ${context.blobs.length} blob(s) at the seeder`);
      await preheat(tracker.url, context.blobs, context.timeoutMs);
    }

    const nodes: NodeUnderTest[] = plans.map((plan, i) => {
      const agent = agents[i]!;
      const headReturned = new Map<string, number>();
      return {
        name: plan.name,
        wave: plan.wave,
        bytes: plan.bytes,
        pid: () => agent.proc.pid,
        async begin() {
          await Promise.all(
            plan.blobs.map(async (blob) => {
              const response = await fetch(`${agent.url}/v1/blobs/${blob.digest}`, { method: 'HEAD', signal: AbortSignal.timeout(120_000) });
              if (!response.ok) throw new Error(`${plan.name}: HEAD ${blob.digest} answered ${response.status}`);
              headReturned.set(blob.digest, Date.now());
            }),
          );
        },
        async poll() {
          const exit = agent.proc.exitInfo();
          if (exit) return { bytes: 0, failed: `the agent exited (code ${exit.code})\n${agent.proc.logTail(10)}` };
          const status = await getJson<AgentStatus>(`${agent.url}/v1/status`);
          let bytes = 0;
          let peers = 0;
          let completedAt = 0;
          let complete = true;
          for (const blob of plan.blobs) {
            const entry = status.blobs.find((b) => b.digest === blob.digest);
            if (!entry) {
              complete = false;
              continue;
            }
            bytes += entry.bytes.peer + entry.bytes.seeder + entry.bytes.origin;
            peers += entry.peers;
            if (!entry.complete) complete = false;
            else completedAt = Math.max(completedAt, headReturned.get(blob.digest)! + entry.durationMs);
          }
          return complete ? { bytes, completedAt, peers } : { bytes, peers };
        },
      };
    });
    const phase = await runPhase({
      system: 'shoal',
      scenario,
      nodes,
      origin: monitor,
      copyBytes: copyBytes(context),
      serverPids: () => [tracker.proc.pid],
      timeoutMs: context.timeoutMs,
    });

    // Where every node's bytes came from, what it uploaded, its peak memory.
    const figures = await Promise.all(
      plans.map(async (plan, i) => {
        const agent = agents[i]!;
        const status = await getJson<AgentStatus>(`${agent.url}/v1/status`).catch(() => undefined);
        const mine = status?.blobs.filter((b) => plan.blobs.some((blob) => blob.digest === b.digest)) ?? [];
        const bytes = mine.reduce((sum, b) => ({ peer: sum.peer + b.bytes.peer, seeder: sum.seeder + b.bytes.seeder, origin: sum.origin + b.bytes.origin }), { peer: 0, seeder: 0, origin: 0 });
        const fallbacks = mine.filter((b) => b.fallback).map((b) => `${plan.name} fell back to the origin: ${b.fallback}`);
        const timing = phase.nodes[i]!;
        return {
          fallbacks,
          figure: nodeFigures({
            name: plan.name,
            wave: plan.wave,
            startedAt: timing.startedAt,
            seconds: timing.completedAt === null ? null : timing.completedAt - timing.startedAt,
            idealSeconds: plan.idealSeconds,
            bytes: status ? bytes : null,
            // Per blob from the status (the node-wide counter would include the warm-up).
            uploadedBytes: status ? mine.reduce((sum, b) => sum + b.uploadedBytes, 0) : null,
            peakRssBytes: (await peakRssBytes(agent.proc.pid)) ?? null,
            cpuSeconds: timing.cpuSeconds,
            progress: timing.progress,
          }),
        };
      }),
    );
    const seeded = await getJson<SeededBlobs>(`${tracker.url}/v1/blobs`).catch(() => undefined);
    const seederUploaded = seeded?.blobs.filter((b) => b.digest !== context.warmup.digest).reduce((sum, b) => sum + b.uploadedBytes, 0) ?? 0;
    const originBytes = await monitor.stop();
    const notes = [...phase.notes, ...figures.flatMap((f) => f.fallbacks)];
    for (const blob of seeded?.blobs ?? []) if (blob.error) notes.push(`seeder: ${blob.digest}: ${blob.error.message}`);
    if (phase.cpu.limited) notes.push(cpuNote(phase.cpu.busyMean));
    const trackerRss = await peakRssBytes(tracker.proc.pid);
    return summarize({
      system: 'shoal',
      label: `shoal tracker (seeder ${seederRateWords(context)}) + ${plans.length} shoal agents, ${linkWords(context)}`,
      nodes: figures.map((f) => f.figure),
      origin: { bytes: originBytes, copies: originBytes / copyBytes(context), timeline: monitor.timeline(phase.t0) },
      server: seeded ? { uploadedBytes: seederUploaded, copies: seederUploaded / copyBytes(context) } : null,
      cpu: phase.cpu,
      notes: trackerRss === undefined ? notes : [...notes, `tracker peak memory ${(trackerRss / 2 ** 20).toFixed(0)} MiB`],
    });
  } finally {
    await monitor.stop();
    await Promise.all(processes.map((p) => p.stop()));
    await removeDir(dir);
  }
}

/** Warms blobs at the seeder (the metainfo request starts a warm-up) and waits until all are seeding. */
async function preheat(trackerUrl: string, wanted: readonly RolloutBlob[], timeoutMs: number): Promise<void> {
  for (const blob of wanted) await getJson(`${trackerUrl}/v1/metainfo/${blob.digest}`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { blobs } = await getJson<SeededBlobs>(`${trackerUrl}/v1/blobs`);
    const failed = blobs.find((b) => b.state === 'failed');
    if (failed) throw new Error(`preheat of ${failed.digest} failed: ${failed.error?.message ?? 'unknown error'}`);
    if (wanted.every((blob) => blobs.some((b) => b.digest === blob.digest && b.state === 'seeding'))) return;
    if (Date.now() > deadline) throw new Error('preheat did not finish in time');
    await sleep(200);
  }
}

/** GETs a URL and reads the whole body. */
async function pullWhole(url: string): Promise<void> {
  const response = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  for await (const _ of response.body!) void _;
}

function seederRateWords(context: RolloutContext): string {
  return `${context.scenario.seederRate / 1e6} MB/s up`;
}
