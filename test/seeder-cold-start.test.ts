/**
 * The seeder against a real HTTP origin that is slow, drops connections or serves wrong bytes:
 * progressive cold start (agents swarm pieces while the seeder is still fetching, the origin
 * serves one copy), resumed ranges, and a digest mismatch that never reaches a client as a
 * good blob.
 */
import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeSource } from '@shoal/core';
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

interface AgentStatus {
  blobs: Array<{ digest: string; havePieces: number; pieces: number }>;
}
interface SeederBlobs {
  blobs: Array<{ digest: string; state: string; knownPieces: number; pieces: number; error?: { code: string; message: string } }>;
}

const json = async <T>(url: string): Promise<T> => (await fetch(url)).json() as Promise<T>;
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

describe('the seeder warming from an HTTP origin', () => {
  let origin: OriginServer;
  let tracker: ShoalDaemon;
  let agents: ShoalDaemon[] = [];

  beforeAll(async () => {
    origin = await startOriginServer();
    // The origin is capped so that a warm-up takes seconds: long enough to watch agents get
    // pieces before it ends.
    tracker = await startShoalTracker({ args: ['--origin-url', origin.template, '--origin-rate', '10MB/s', '--announce-interval', '2s'] });
    agents = await Promise.all(Array.from({ length: AGENTS }, () => startShoalAgent({ trackers: [tracker.url] })));
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.dispose()));
    await tracker?.dispose();
    await origin?.close();
  });

  it('lets six agents swarm a blob the seeder lacks while it is still fetching it, the origin serving one copy', async () => {
    const size = 40 * MiB;
    const bytes = randomBytes(size);
    const digest = origin.add(bytes);

    // Watch: an agent holding verified pieces, seen before the seeder is seen still warming,
    // had those pieces before the seeder had the whole blob.
    let watching = true;
    const early: Array<{ known: number; pieces: number; have: number[] }> = [];
    const watcher = (async () => {
      while (watching) {
        const statuses = await Promise.all(agents.map((a) => json<AgentStatus>(`${a.url}/v1/status`)));
        const seeder = (await json<SeederBlobs>(`${tracker.url}/v1/blobs`)).blobs.find((b) => b.digest === digest);
        const have = statuses.map((s) => s.blobs.find((b) => b.digest === digest)?.havePieces ?? 0);
        if (seeder?.state === 'warming' && have.some((n) => n > 0)) early.push({ known: seeder.knownPieces, pieces: seeder.pieces, have });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const bodies = await Promise.all(agents.map(async (a) => Buffer.from(await (await fetch(`${a.url}/v1/blobs/${digest}`)).arrayBuffer())));
    watching = false;
    await watcher;

    for (const body of bodies) expect(`sha256:${sha256Hex(body)}`).toBe(digest);
    // Pieces came from the seeder as it read them, not after: agents held pieces while the
    // seeder had published only part of the piece hashes.
    expect(early.filter((e) => e.known < e.pieces), JSON.stringify(early)).not.toEqual([]);

    // The origin, counted at the origin: at most 1.05 copies.
    expect(origin.bytesSent(digest)).toBeGreaterThanOrEqual(size);
    expect(origin.bytesSent(digest)).toBeLessThanOrEqual(1.05 * size);
    expect(metric(await scrapeMetrics(tracker.url), 'shoal_seeder_origin_bytes_total{origin="http"}')).toBe(size);
    for (const agent of agents) expect(metric(await scrapeMetrics(agent.url), 'shoal_agent_blob_bytes_total{source="origin"}')).toBe(0);
  });

  it('resumes a response the origin cuts mid-blob at the byte it reached, fetching no byte twice', async () => {
    const size = 12 * MiB;
    const bytes = randomBytes(size);
    const digest = origin.add(bytes);
    origin.dropConnections(digest, 3, MiB + 4321);
    const body = Buffer.from(await (await fetch(`${agents[0]!.url}/v1/blobs/${digest}`)).arrayBuffer());
    expect(body.equals(bytes)).toBe(true);

    const requests = origin.requests.filter((r) => r.hex === digest.slice(7));
    const cut = requests.filter((r) => r.cut);
    expect(cut).toHaveLength(3);
    for (const r of cut) {
      // The retry asks for the rest of the range, from the first byte not received.
      expect(requests.some((next) => next.start === r.start + r.sent && next.end === r.end)).toBe(true);
    }
    expect(origin.bytesSent(digest)).toBe(size);
  });

  it('rejects an origin that serves other bytes under the digest: a clear error, nothing kept, never a good-looking blob', async () => {
    const size = 6 * MiB;
    const digest = origin.add(randomBytes(size));
    origin.corrupt(digest, Infinity);
    const agent = agents[0]!;

    // The first pull may have started on pieces before the seeder's digest check: it is cut
    // off (no answer, an error, or a body that breaks before its end), never completed.
    const first = await fetch(`${agent.url}/v1/blobs/${digest}`)
      .then(async (r) => ({ status: r.status, body: Buffer.from(await r.arrayBuffer()) }))
      .catch((err: unknown) => ({ status: 0, body: err }));
    expect(first.status === 200 && Buffer.isBuffer(first.body) && first.body.length === size).toBe(false);

    const failed = await waitFor(
      async () => (await json<SeederBlobs>(`${tracker.url}/v1/blobs`)).blobs.find((b) => b.digest === digest)?.state === 'failed',
      { what: 'the warm-up to fail' },
    ).then(async () => (await json<SeederBlobs>(`${tracker.url}/v1/blobs`)).blobs.find((b) => b.digest === digest)!);
    expect(failed.error).toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(failed.error!.message).toMatch(new RegExp(`http origin: its ${size} bytes hash to sha256:[0-9a-f]{64}, not ${digest}; the origin serves other content`));

    // The next pull fails at once with that error (no origin to fall back to without a URL).
    const second = await fetch(`${agent.url}/v1/blobs/${digest}`);
    expect(second.status).toBe(502);
    expect(await second.json()).toMatchObject({ error: { code: 'DIGEST_MISMATCH', message: failed.error!.message } });

    // Nothing of it is kept, at the seeder or the agent.
    const hex = digest.slice(7);
    for (const dir of [tracker.dir, agent.dir]) {
      await waitFor(async () => !(await exists(join(dir, 'store', 'partial', 'sha256', hex))), { what: `no partial blob in ${dir}` });
      expect(await exists(join(dir, 'store', 'blobs', 'sha256', hex))).toBe(false);
    }
  });

  it('falls back to the origin itself when the seeder got wrong bytes and the agent knows where the blob is', async () => {
    const size = 6 * MiB;
    const bytes = randomBytes(size);
    const digest = origin.add(bytes);
    // A presigned URL: its signature must not show up in any log.
    const url = `${origin.urlOf(digest)}?X-Amz-Expires=600&X-Amz-Signature=f00dfacecafe5ec7e7`;
    // A corrupting hop on the seeder's way only: its copy is wrong once.
    origin.corrupt(digest, 1);
    const source = encodeSource({ kind: 'url', url });
    expect((await fetch(`${tracker.url}/v1/metainfo/${digest}?source=${source}`)).status).toBe(200);
    await waitFor(async () => (await json<SeederBlobs>(`${tracker.url}/v1/blobs`)).blobs.find((b) => b.digest === digest)?.state === 'failed', {
      what: 'the warm-up to fail',
    });

    const agent = agents[1]!;
    const before = metric(await scrapeMetrics(agent.url), 'shoal_agent_blob_bytes_total{source="origin"}');
    const response = await fetch(`${agent.url}/v1/blobs/${digest}?url=${encodeURIComponent(url)}`);
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(bytes)).toBe(true);
    expect(metric(await scrapeMetrics(agent.url), 'shoal_agent_blob_bytes_total{source="origin"}') - before).toBe(size);
    for (const daemon of [tracker, agent]) {
      expect(daemon.process.logTail(5000)).not.toContain('f00dfacecafe5ec7e7');
      expect(daemon.process.logTail(5000)).not.toContain(source);
    }
  });
});
