/// <reference path="../packages/swarm/src/types/bittorrent-protocol.d.ts" />
import { randomBytes } from 'node:crypto';
import { type Server, createServer } from 'node:net';
import Wire from 'bittorrent-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { choosePieceLength, deriveInfoHash, parseDigest } from '@shoal/core';
import {
  type ShoalDaemon,
  type TestBlob,
  makeTempDir,
  metric,
  removeDir,
  scrapeMetrics,
  sha256Hex,
  startShoalAgent,
  startShoalTracker,
  writeRandomBlob,
} from './harness/index.ts';

const SIZE = 32 << 20;

/**
 * A peer that claims every piece and answers every request with random bytes, announced to
 * the tracker as complete so the handout puts it first.
 */
async function startPoisonedPeer(): Promise<{ server: Server; port: number; connections: () => number; blocksSent: () => number }> {
  let connections = 0;
  let blocksSent = 0;
  const peerId = Buffer.concat([Buffer.from('-XX0001-'), randomBytes(12)]);
  const server = createServer((socket) => {
    connections++;
    const wire = new Wire();
    socket.on('data', (chunk) => wire.write(chunk));
    wire.on('data', (chunk: Uint8Array) => socket.write(chunk));
    socket.on('error', () => {});
    wire.on('handshake', (infoHash: string) => {
      wire.handshake(infoHash, peerId, { fast: true });
      wire.haveAll();
    });
    wire.on('interested', () => wire.unchoke());
    wire.on('request', (_index: number, _offset: number, length: number, respond: (err: Error | null, block: Buffer) => void) => {
      blocksSent++;
      respond(null, randomBytes(length));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { server, port, connections: () => connections, blocksSent: () => blocksSent };
}

function percentEncode(bytes: Uint8Array): string {
  return [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
}

describe('a peer that sends wrong bytes', () => {
  let originDir: string;
  let blob: TestBlob;
  let tracker: ShoalDaemon;
  let agent: ShoalDaemon;
  let poison: Awaited<ReturnType<typeof startPoisonedPeer>>;

  beforeAll(async () => {
    originDir = await makeTempDir('shoal-origin-');
    blob = await writeRandomBlob(originDir, SIZE);
    tracker = await startShoalTracker({ originDir });
    // Seeder first: the tracker warms the blob on its first metainfo request.
    expect((await fetch(`${tracker.url}/v1/metainfo/${blob.digest}`)).status).toBe(200);
    poison = await startPoisonedPeer();
    const infoHash = deriveInfoHash(parseDigest(blob.digest), choosePieceLength(SIZE));
    const announce = await fetch(
      `${tracker.url}/announce?info_hash=${percentEncode(infoHash)}&peer_id=${percentEncode(Buffer.from('-XX0001-abcdefghijkl'))}` +
        `&port=${poison.port}&uploaded=0&downloaded=0&left=0&event=started&compact=1`,
    );
    expect(announce.status).toBe(200);
    // Slow enough that the agent meets the poisoned peer, which the handout lists first.
    agent = await startShoalAgent({ trackers: [tracker.url], args: ['--download-rate', '40MB/s'] });
  });

  afterAll(async () => {
    await agent?.dispose();
    await tracker?.dispose();
    poison?.server.close();
    await removeDir(originDir);
  });

  it('is dropped and banned, and the download completes with the right bytes', async () => {
    const response = await fetch(`${agent.url}/v1/blobs/${blob.digest}`);
    const body = Buffer.from(await response.arrayBuffer());
    expect(response.status).toBe(200);
    expect(`sha256:${sha256Hex(body)}`).toBe(blob.digest);

    // The agent did talk to the poisoned peer, rejected what it sent, and never came back.
    expect(poison.blocksSent()).toBeGreaterThan(0);
    const values = await scrapeMetrics(agent.url);
    expect(metric(values, 'shoal_agent_piece_verification_failures_total')).toBeGreaterThanOrEqual(1);
    expect(poison.connections()).toBe(1);
    // Nothing the poisoned peer sent was stored: every stored byte came from the seeder.
    expect(metric(values, 'shoal_agent_blob_bytes_total{source="seeder"}')).toBe(SIZE);
    expect(metric(values, 'shoal_agent_blob_bytes_total{source="peer"}')).toBe(0);
    expect(agent.process.stdout()).toContain('bad piece from peer: dropping and banning it');
  });
});
