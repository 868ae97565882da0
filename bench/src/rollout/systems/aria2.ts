/**
 * Baseline: a plain BitTorrent swarm, as a team would set one up from Debian's packages:
 * opentracker, one aria2c seeder with the central server's link, one aria2c per node with the
 * same caps as Shoal's agents, torrents made by mktorrent with Shoal's piece length. Nodes
 * keep seeding after their download, as Shoal's agents do.
 *
 * The seeder gets its copy from the origin first (preheated: before the rollout; cold: when
 * it starts), and only then can the torrent be made: a node of a cold rollout waits for it.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { choosePieceLength } from '@shoal/core';
import { type Aria2Peer, type Torrent, makeTorrent, startAria2, startTracker } from '../../lib/aria2.ts';
import { type ManagedProcess, removeDir, run } from '../../lib/managed-process.ts';
import { peakRssBytes } from '../../lib/proc-stats.ts';
import { nodeFigures, summarize } from '../../report/stats.ts';
import type { SystemResult } from '../../report/types.ts';
import { type RolloutBlob, type RolloutContext, copyBytes, nodePlans } from '../context.ts';
import { type NodeUnderTest, OriginMonitor, runPhase } from '../phase.ts';
import { benchProgram, startScript } from '../processes.ts';
import { cpuNote, linkWords } from '../words.ts';

export async function runAria2(context: RolloutContext): Promise<SystemResult> {
  const { scenario, network } = context;
  const dir = join(context.root, 'aria2');
  const seedDir = join(dir, 'seed');
  const monitor = new OriginMonitor(context.originBytes);
  await monitor.start();
  const tracker = await startTracker();
  const peers: Aria2Peer[] = [];
  const helpers: ManagedProcess[] = [];
  try {
    /** The seeder's copy from the origin, its torrents, the seeder itself. */
    const seed = async (): Promise<Map<string, Torrent>> => {
      const fetcher = await startScript('aria2 seeder fetch', benchProgram('http-pull'), ['--rate', '0', '--out', seedDir, ...context.blobs.map((b) => `${context.originUrl}/blobs/${b.digest}`)], {
        prefix: network.serverPrefix(),
      });
      helpers.push(fetcher);
      const exit = await fetcher.exited;
      if (exit.code !== 0) throw new Error(`the aria2 seeder could not fetch the blobs from the origin:\n${fetcher.logTail()}`);
      const torrents = new Map<string, Torrent>();
      for (const blob of context.blobs) {
        const torrent = await makeTorrent(join(seedDir, blob.digest.slice(7)), {
          announceUrl: tracker.announceUrl,
          pieceLength: choosePieceLength(blob.size),
          out: join(dir, `${blob.digest.slice(7)}.torrent`),
        });
        torrents.set(blob.digest, torrent);
      }
      await tracker.whitelist(...[...torrents.values()].map((t) => t.infoHash));
      const seeder = await startAria2({
        torrent: [...torrents.values()],
        mode: 'seed',
        dir: seedDir,
        host: network.serverHost,
        timeoutSec: 0,
        prefix: network.serverPrefix(),
        ...(network.capsInProcess ? { uploadLimit: String(scenario.seederRate) } : {}),
      });
      peers.push(seeder);
      for (const torrent of torrents.values()) await tracker.waitForSeeders(torrent.infoHash, 1);
      return torrents;
    };
    let torrentsReady: Promise<Map<string, Torrent>> | undefined;
    if (scenario.warm) {
      context.log.say('preheating the aria2 seeder (a copy from the origin, then the torrents)');
      torrentsReady = seed();
      await torrentsReady;
    }

    const plans = nodePlans(context);
    const leechers: Array<Aria2Peer | undefined> = plans.map(() => undefined);
    const nodes: NodeUnderTest[] = plans.map((plan, i) => {
      const nodeDir = join(dir, plan.name);
      const log = join(dir, `${plan.name}.complete`);
      const files = (blob: RolloutBlob) => join(nodeDir, blob.digest.slice(7));
      return {
        name: plan.name,
        wave: plan.wave,
        bytes: plan.bytes,
        pid: () => leechers[i]?.process.pid,
        async begin() {
          // A cold rollout's first node starts the seeder's fetch; every node waits for the torrents.
          torrentsReady ??= seed();
          const torrents = await torrentsReady;
          leechers[i] = await startAria2({
            torrent: plan.blobs.map((b) => torrents.get(b.digest)!),
            mode: 'leech',
            dir: nodeDir,
            host: network.nodeHost(plan.index),
            prefix: network.nodePrefix(plan.index),
            timeoutSec: 0,
            keepSeeding: true,
            completionLog: log,
            ...(network.capsInProcess ? { uploadLimit: String(scenario.uploadRate), downloadLimit: String(scenario.downloadRate) } : {}),
          });
          peers.push(leechers[i]!);
        },
        async poll() {
          const leecher = leechers[i];
          if (!leecher) return { bytes: 0 };
          const exit = leecher.process.exitInfo();
          if (exit) return { bytes: 0, failed: `aria2c exited (code ${exit.code})\n${leecher.process.logTail(5)}` };
          const lines = (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean);
          const done = new Map(lines.map((line) => [line.slice(line.indexOf(' ') + 1), Number(line.slice(0, line.indexOf(' '))) * 1000]));
          let bytes = 0;
          for (const blob of plan.blobs) {
            const s = await stat(files(blob)).catch(() => undefined);
            bytes += done.has(files(blob)) ? blob.size : Math.min(blob.size, (s?.blocks ?? 0) * 512);
          }
          const complete = plan.blobs.every((b) => done.has(files(b)));
          return complete ? { bytes, completedAt: Math.max(...plan.blobs.map((b) => done.get(files(b))!)) } : { bytes };
        },
      };
    });
    const phase = await runPhase({
      system: 'aria2',
      scenario,
      nodes,
      origin: monitor,
      copyBytes: copyBytes(context),
      serverPids: () => [tracker.process.pid, ...peers.filter((p) => p.mode === 'seed').map((p) => p.process.pid)],
      timeoutMs: context.timeoutMs,
    });
    const figures = await Promise.all(
      plans.map(async (plan, i) => {
        const timing = phase.nodes[i]!;
        const leecher = leechers[i];
        return nodeFigures({
          name: plan.name,
          wave: plan.wave,
          startedAt: timing.startedAt,
          seconds: timing.completedAt === null ? null : timing.completedAt - timing.startedAt,
          idealSeconds: plan.idealSeconds,
          bytes: null,
          uploadedBytes: null,
          peakRssBytes: leecher ? ((await peakRssBytes(leecher.process.pid)) ?? null) : null,
          cpuSeconds: timing.cpuSeconds,
          progress: timing.progress,
        });
      }),
    );
    const originBytes = await monitor.stop();
    return summarize({
      system: 'aria2',
      label: `opentracker + aria2c ${await aria2Version()} (seeder ${scenario.seederRate / 1e6} MB/s up, ${scenario.warm ? 'preheated' : 'cold: fetch, then mktorrent'}) + ${plans.length} aria2c nodes, ${linkWords(context)}, piece length as Shoal's`,
      nodes: figures,
      origin: { bytes: originBytes, copies: originBytes / copyBytes(context), timeline: monitor.timeline(phase.t0) },
      server: null,
      cpu: phase.cpu,
      notes: phase.cpu.limited ? [...phase.notes, cpuNote(phase.cpu.busyMean)] : phase.notes,
    });
  } finally {
    await monitor.stop();
    await Promise.all(peers.map((p) => p.stop()));
    await Promise.all(helpers.map((h) => h.stop()));
    await tracker.stop();
    await removeDir(dir);
  }
}

async function aria2Version(): Promise<string> {
  const out = await run('aria2c', ['--version']).catch(() => undefined);
  return /aria2 version (\S+)/.exec(out?.stdout ?? '')?.[1] ?? '';
}
