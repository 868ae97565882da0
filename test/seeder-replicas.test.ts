/**
 * Two tracker replicas splitting digests by rendezvous hashing: the owner of a digest is
 * killed mid-rollout, agents fail over to the other replica (which warms the blob itself and
 * seeds it) and finish; the owner, restarted, rebuilds its swarm state from announces.
 */
import { randomBytes } from 'node:crypto';
import { type Digest, rankReplicas } from '@shoal/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type OriginServer,
  type ShoalDaemon,
  metric,
  scrapeMetrics,
  sha256Hex,
  startOriginServer,
  startShoalAgent,
  startShoalTracker,
  waitFor,
} from './harness/index.ts';

const MiB = 1 << 20;
const AGENTS = 6;
const SIZE = 24 * MiB;

interface AgentStatus {
  blobs: Array<{ digest: string; havePieces: number; pieces: number }>;
}
interface SeederBlobs {
  blobs: Array<{ digest: string; state: string; originBytes: number; peers: number }>;
}
const json = async <T>(url: string): Promise<T> => (await fetch(url)).json() as Promise<T>;

describe('two tracker replicas', () => {
  let origin: OriginServer;
  const trackers: ShoalDaemon[] = [];
  let agents: ShoalDaemon[] = [];
  // Origin and seeder uploads capped, so that a rollout is still under way when a replica dies.
  const trackerArgs = (): string[] => ['--origin-url', origin.template, '--origin-rate', '6MB/s', '--upload-rate', '6MB/s', '--announce-interval', '2s'];

  beforeAll(async () => {
    origin = await startOriginServer();
    trackers.push(...(await Promise.all([startShoalTracker({ args: trackerArgs() }), startShoalTracker({ args: trackerArgs() })])));
    const list = trackers.map((t) => t.url);
    // No origin to fall back to (the blob has no URL): finishing proves the failover.
    agents = await Promise.all(Array.from({ length: AGENTS }, () => startShoalAgent({ trackers: list, args: ['--stall-timeout', '120s'] })));
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.dispose()));
    for (const t of trackers) await t.dispose();
    await origin?.close();
  });

  it('the owner of a digest dies mid-rollout: agents fail over to the next replica, which warms the blob, and finish', async () => {
    const bytes = randomBytes(SIZE);
    const digest = origin.add(bytes) as Digest;
    const [ownerUrl] = rankReplicas(digest, trackers.map((t) => t.url));
    const owner = trackers.find((t) => t.url === ownerUrl)!;
    const next = trackers.find((t) => t !== owner)!;

    const pulls = agents.map(async (a) => Buffer.from(await (await fetch(`${a.url}/v1/blobs/${digest}`)).arrayBuffer()));
    // Mid-rollout: the owner is warming, agents hold part of the blob.
    await waitFor(
      async () => {
        const statuses = await Promise.all(agents.map((a) => json<AgentStatus>(`${a.url}/v1/status`)));
        const have = statuses.map((s) => s.blobs.find((b) => b.digest === digest)?.havePieces ?? 0);
        return have.some((n) => n >= 3);
      },
      { what: 'agents to hold some pieces', intervalMs: 50 },
    );
    const atKill = (await json<SeederBlobs>(`${owner.url}/v1/blobs`)).blobs.find((b) => b.digest === digest);
    expect(atKill?.state).toBe('warming');
    expect((await json<SeederBlobs>(`${next.url}/v1/blobs`)).blobs).toEqual([]);
    await owner.kill();

    const bodies = await Promise.all(pulls);
    for (const body of bodies) expect(`sha256:${sha256Hex(body)}`).toBe(digest);

    // The next replica warmed the blob itself and seeded it to the agents.
    const warmed = (await json<SeederBlobs>(`${next.url}/v1/blobs`)).blobs.find((b) => b.digest === digest);
    expect(warmed).toMatchObject({ state: 'seeding', originBytes: SIZE });
    let fromSeeders = 0;
    for (const agent of agents) {
      const values = await scrapeMetrics(agent.url);
      expect(metric(values, 'shoal_agent_blob_bytes_total{source="origin"}')).toBe(0);
      fromSeeders += metric(values, 'shoal_agent_blob_bytes_total{source="seeder"}');
    }
    expect(fromSeeders).toBeGreaterThan(0);
    // The owner's partial copy plus the next replica's whole one, no more.
    expect(origin.bytesSent(digest)).toBeLessThanOrEqual(2 * SIZE);

    // Restarted where agents expect it, the owner knows nothing (memory only) until the
    // agents' announces come back to it.
    const port = Number(new URL(owner.url).port);
    const restarted = await startShoalTracker({ dir: owner.dir, port, peerPort: owner.peerPort, args: trackerArgs() });
    trackers[trackers.indexOf(owner)] = restarted;
    await waitFor(async () => metric(await scrapeMetrics(restarted.url), 'shoal_tracker_peers{state="complete"}') === AGENTS, {
      what: 'the restarted owner to learn every agent from announces',
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    expect(metric(await scrapeMetrics(restarted.url), 'shoal_tracker_swarms')).toBeGreaterThanOrEqual(1);
  });

  it('the owner dies after warming a blob that agents are still pulling: the next replica is asked for it, warms it and seeds', async () => {
    const size = 16 * MiB;
    const bytes = randomBytes(size);
    const digest = origin.add(bytes) as Digest;
    const [ownerUrl] = rankReplicas(digest, trackers.map((t) => t.url));
    const owner = trackers.find((t) => t.url === ownerUrl)!;
    const next = trackers.find((t) => t !== owner)!;
    // Warmed at the owner before the rollout: agents get every piece hash at once and have
    // no warm-up to follow, so only the failover itself can tell the next replica of the blob.
    expect((await fetch(`${owner.url}/v1/metainfo/${digest}`)).status).toBe(200);
    await waitFor(async () => (await json<SeederBlobs>(`${owner.url}/v1/blobs`)).blobs.find((b) => b.digest === digest)?.state === 'seeding', {
      what: 'the owner to warm the blob',
    });

    const pulls = agents.map(async (a) => Buffer.from(await (await fetch(`${a.url}/v1/blobs/${digest}`)).arrayBuffer()));
    // The seeder uploads at 6 MB/s: with 3 of 16 pieces at some agent, most pieces are still only at the seeder.
    await waitFor(
      async () => {
        const statuses = await Promise.all(agents.map((a) => json<AgentStatus>(`${a.url}/v1/status`)));
        return statuses.some((s) => (s.blobs.find((b) => b.digest === digest)?.havePieces ?? 0) >= 3);
      },
      { what: 'agents to hold some pieces', intervalMs: 50 },
    );
    await owner.kill();

    const bodies = await Promise.all(pulls);
    for (const body of bodies) expect(body.equals(bytes)).toBe(true);
    const warmed = (await json<SeederBlobs>(`${next.url}/v1/blobs`)).blobs.find((b) => b.digest === digest);
    expect(warmed).toMatchObject({ state: 'seeding', originBytes: size });
    for (const agent of agents) expect(metric(await scrapeMetrics(agent.url), 'shoal_agent_blob_bytes_total{source="origin"}')).toBe(0);
  });
});
