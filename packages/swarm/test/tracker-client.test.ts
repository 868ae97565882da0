import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import bencode from 'bencode';
import { type Digest, ErrorCode, Metainfo, rankReplicas } from '@shoal/core';
import { afterEach, describe, expect, it } from 'vitest';
import { TrackerClient } from '../src/index.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}` as Digest;

interface Replica {
  url: string;
  hits: string[];
  close(): Promise<void>;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function replica(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Replica> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    handler(req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function metainfo(res: ServerResponse, state = 'seeding'): void {
  const body = JSON.stringify(new Metainfo(DIGEST, 3 << 20, 1 << 20, new Uint8Array(96)));
  res.writeHead(200, { 'content-type': 'application/json', 'x-shoal-seed-state': state }).end(body);
}

function announce(res: ServerResponse): void {
  res.end(Buffer.from(bencode.encode({ interval: 30, complete: 1, incomplete: 2, peers: new Uint8Array([127, 0, 0, 1, 0x1a, 0xe1]) })));
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Two replicas, [owner, next] as the client ranks them for DIGEST, each with its handler. */
async function ranked(ownerHandler: Handler, nextHandler: Handler): Promise<[Replica, Replica]> {
  const handlers = new Map<Replica, Handler>();
  const a: Replica = await replica((q, r) => handlers.get(a)!(q, r));
  const b: Replica = await replica((q, r) => handlers.get(b)!(q, r));
  const [first] = rankReplicas(DIGEST, [a.url, b.url]);
  const [owner, next] = first === a.url ? [a, b] : [b, a];
  handlers.set(owner, ownerHandler);
  handlers.set(next, nextHandler);
  return [owner, next];
}

describe('TrackerClient', () => {
  it('asks the owner of a digest, and says which replica answered and how far its warm-up is', async () => {
    const [owner, next] = await ranked((_q, r) => metainfo(r, 'warming'), (_q, r) => metainfo(r));
    const client = new TrackerClient([next.url, owner.url]);
    const status = await client.seedStatus(DIGEST);
    expect(status).toMatchObject({ state: 'warming', replica: owner.url });
    expect(status.meta.size).toBe(3 << 20);
    expect(next.hits).toEqual([]);
  });

  it('fails over to the next replica when the owner is down, and tries it last for a while', async () => {
    let now = 1_000;
    const [owner, next] = await ranked((_q, r) => announce(r), (_q, r) => announce(r));
    await owner.close();
    const client = new TrackerClient([owner.url, next.url], { downMs: 10_000, now: () => now });
    const meta = new Metainfo(DIGEST, 3 << 20, 1 << 20);
    const params = { meta, peerId: Buffer.alloc(20, 1), port: 6881, uploaded: 0, downloaded: 0, left: 3 << 20 };
    const first = await client.announce(params);
    expect(first).toMatchObject({ replica: next.url, peers: ['127.0.0.1:6881'], complete: 1, incomplete: 2 });
    expect(client.replicasFor(DIGEST)).toEqual([next.url, owner.url]);
    now += 10_001;
    expect(client.replicasFor(DIGEST)).toEqual([owner.url, next.url]);
  });

  it('fails over on a 5xx without a verdict on the blob (a full store, an internal error)', async () => {
    const [owner, next] = await ranked(
      (_q, r) => void r.writeHead(507, { 'content-type': 'application/json' }).end('{"error":{"code":"STORE_FULL","message":"store is full"}}'),
      (_q, r) => metainfo(r),
    );
    const status = await new TrackerClient([owner.url, next.url]).seedStatus(DIGEST);
    expect(status.replica).toBe(next.url);
    expect(owner.hits).toHaveLength(1);
  });

  it("takes the owner's verdict on the blob as final: no other replica is asked", async () => {
    const [owner, next] = await ranked(
      (_q, r) =>
        void r
          .writeHead(502, { 'content-type': 'application/json' })
          .end('{"error":{"code":"DIGEST_MISMATCH","message":"the origin serves other content under this digest"}}'),
      (_q, r) => metainfo(r),
    );
    const err = await new TrackerClient([owner.url, next.url]).metainfo(DIGEST).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.DIGEST_MISMATCH, message: 'the origin serves other content under this digest' });
    expect(next.hits).toEqual([]);
  });

  it('reports TRACKER_UNAVAILABLE naming every replica when none answers', async () => {
    const a = await replica((_q, r) => void r.writeHead(503).end('starting'));
    const b = await replica((_q, r) => void r.destroy());
    const err = await new TrackerClient([a.url, b.url]).metainfo(DIGEST).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.TRACKER_UNAVAILABLE });
    expect(String((err as Error).message)).toContain(a.url);
    expect(String((err as Error).message)).toContain(b.url);
  });
});
