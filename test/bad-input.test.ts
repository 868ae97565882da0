import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { choosePieceLength, deriveInfoHash, parseDigest } from '@shoal/core';
import {
  type ShoalDaemon,
  type TestBlob,
  makeTempDir,
  removeDir,
  startShoalAgent,
  startShoalTracker,
  writeRandomBlob,
} from './harness/index.ts';

const SIZE = 4 << 20;

/** A GET with the path sent exactly as written (fetch would normalise "../"). */
function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Connects to a peer port, sends the bytes, and resolves with what happened to the socket. */
function sendOnWire(port: number, chunks: Buffer[]): Promise<{ closed: boolean; received: number }> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: '127.0.0.1', port });
    let received = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ closed: false, received });
    }, 3000);
    socket.on('data', (data) => (received += data.length));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, received });
    });
    socket.on('error', () => {});
    socket.on('connect', () => {
      for (const chunk of chunks) socket.write(chunk);
    });
  });
}

function handshake(infoHash: Uint8Array): Buffer {
  const reserved = Buffer.alloc(8);
  reserved[7] = 0x04; // fast extension
  return Buffer.concat([Buffer.from([19]), Buffer.from('BitTorrent protocol'), reserved, Buffer.from(infoHash), Buffer.from('-XX0001-badinputtest')]);
}

function message(id: number, ...numbers: number[]): Buffer {
  const buffer = Buffer.alloc(5 + 4 * numbers.length);
  buffer.writeUInt32BE(1 + 4 * numbers.length, 0);
  buffer[4] = id;
  numbers.forEach((n, i) => buffer.writeUInt32BE(n, 5 + 4 * i));
  return buffer;
}

describe('bad input', () => {
  let originDir: string;
  let blob: TestBlob;
  let tracker: ShoalDaemon;
  let agent: ShoalDaemon;
  let infoHash: Uint8Array;

  beforeAll(async () => {
    originDir = await makeTempDir('shoal-origin-');
    blob = await writeRandomBlob(originDir, SIZE);
    tracker = await startShoalTracker({ originDir });
    agent = await startShoalAgent({ trackers: [tracker.url] });
    // The agent pulls the blob and keeps seeding it, so its peer port knows this info-hash.
    expect((await fetch(`${agent.url}/v1/blobs/${blob.digest}`)).status).toBe(200);
    infoHash = deriveInfoHash(parseDigest(blob.digest), choosePieceLength(SIZE));
  });

  afterAll(async () => {
    await agent?.dispose();
    await tracker?.dispose();
    await removeDir(originDir);
  });

  it('answers a malformed digest with 400 and the reason', async () => {
    for (const bad of ['sha256:1234', `sha256:${'A'.repeat(64)}`, `md5:${'0'.repeat(32)}`, 'latest']) {
      const response = await fetch(`${agent.url}/v1/blobs/${bad}`);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('INVALID_DIGEST');
    }
    expect((await fetch(`${tracker.url}/v1/metainfo/sha256:xyz`)).status).toBe(400);
  });

  it('answers an unknown digest with 404', async () => {
    const unknown = `sha256:${'0'.repeat(64)}`;
    const response = await fetch(`${agent.url}/v1/blobs/${unknown}`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('BLOB_UNKNOWN');
    expect((await fetch(`${tracker.url}/v1/metainfo/${unknown}`)).status).toBe(404);
  });

  it('refuses path traversal in the URL', async () => {
    for (const path of ['/v1/blobs/../../../etc/passwd', '/v1/blobs/..%2F..%2Fetc%2Fpasswd', '/v1/blobs/sha256:..%2f..%2fstore', '/v1/blobs/%E0%A4%A']) {
      const { status, body } = await rawGet(agent.url, path);
      expect(status, path).toBe(400);
      expect(body).not.toContain('root:');
    }
    expect((await rawGet(tracker.url, '/v1/metainfo/../../etc/passwd')).status).toBe(400);
  });

  it('drops a peer whose message header announces 4 GiB', async () => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(0xffffffff, 0);
    const result = await sendOnWire(agent.peerPort, [handshake(infoHash), length, Buffer.alloc(1024)]);
    expect(result.closed).toBe(true);
  });

  it('drops a peer that requests a 64 MiB block', async () => {
    const interested = message(2);
    const request = message(6, 0, 0, 64 << 20);
    const result = await sendOnWire(agent.peerPort, [handshake(infoHash), interested, request]);
    expect(result.closed).toBe(true);
  });

  it('drops a peer that speaks something else, or names an unknown blob', async () => {
    expect((await sendOnWire(agent.peerPort, [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')])).closed).toBe(true);
    expect((await sendOnWire(agent.peerPort, [handshake(Buffer.alloc(20, 7))])).closed).toBe(true);
  });

  it('keeps serving after all of it', async () => {
    expect((await fetch(`${agent.url}/healthz`)).status).toBe(200);
    expect(agent.process.exitInfo()).toBeNull();
    const response = await fetch(`${agent.url}/v1/blobs/${blob.digest}`);
    expect(Buffer.from(await response.arrayBuffer())).toEqual(blob.bytes);
    expect(agent.process.stdout()).toContain('peer broke the protocol');
  });
});
