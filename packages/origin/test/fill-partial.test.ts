import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContentStore, ErrorCode, Metainfo, ShoalError } from '@shoal/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HttpOrigin, fillPartialFromOrigin, streamingChunkSize } from '../src/index.ts';
import { type TestServer, digestOf, serveBlob, startServer, testBlob } from './helpers/blob-server.ts';

const PIECE = 64 * 1024;

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

describe('fillPartialFromOrigin', () => {
  let root: string;
  let store: ContentStore;
  let server: TestServer | undefined;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'shoal-fill-'));
    store = new ContentStore({ root });
    await store.start();
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await store.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('derives every piece hash from the origin bytes, stores each piece once and publishes the verified blob', async () => {
    const blob = testBlob(10 * PIECE + 777);
    server = await startServer((req, res) => serveBlob(req, res, blob));
    const meta = new Metainfo(digestOf(blob), blob.length, PIECE);
    const partial = await store.openPartial(meta);
    const stored: number[] = [];
    const stats = await fillPartialFromOrigin(partial, new HttpOrigin(), { kind: 'url', url: `${server.url}/b` }, {
      concurrency: 3,
      onStored: (i) => stored.push(i),
    });
    expect(stats.bytes).toBe(blob.length);
    expect(stored.sort((a, b) => a - b)).toEqual(Array.from({ length: meta.pieceCount }, (_, i) => i));
    for (let i = 0; i < meta.pieceCount; i++) {
      expect(Buffer.from(meta.pieceHash(i)!)).toEqual(sha256(blob.subarray(i * PIECE, (i + 1) * PIECE)));
    }
    // Resolved means published: the blob is in the store, byte for byte.
    expect(store.has(meta.digest)).toBe(true);
    expect(partial.state).toBe('complete');
  });

  it('rejects an origin that serves other bytes under the digest with DIGEST_MISMATCH and keeps nothing', async () => {
    const blob = testBlob(6 * PIECE);
    const wrong = Buffer.from(blob);
    wrong[3 * PIECE + 5] = wrong[3 * PIECE + 5]! ^ 0x01;
    server = await startServer((req, res) => serveBlob(req, res, wrong));
    const meta = new Metainfo(digestOf(blob), blob.length, PIECE);
    const partial = await store.openPartial(meta);
    const err = await fillPartialFromOrigin(partial, new HttpOrigin(), { kind: 'url', url: `${server.url}/b` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShoalError);
    expect((err as ShoalError).code).toBe(ErrorCode.DIGEST_MISMATCH);
    expect((err as ShoalError).message).toMatch(/http origin: its 393216 bytes hash to sha256:[0-9a-f]{64}, not sha256:/);
    expect((err as ShoalError).details?.actual).toBe(digestOf(wrong));
    expect(store.has(meta.digest)).toBe(false);
    expect(await readdir(join(root, 'partial', 'sha256'))).toEqual([]);
  });

  it('checks pieces whose hash the tracker published against it, and says whose bytes disagree', async () => {
    const blob = testBlob(4 * PIECE);
    const other = testBlob(4 * PIECE, 99);
    server = await startServer((req, res) => serveBlob(req, res, other));
    // The tracker published hashes of `blob`; this origin serves `other` under the same digest.
    const hashes = Buffer.concat(Array.from({ length: 4 }, (_, i) => sha256(blob.subarray(i * PIECE, (i + 1) * PIECE))));
    const meta = new Metainfo(digestOf(blob), blob.length, PIECE, hashes);
    const partial = await store.openPartial(meta);
    const err = (await fillPartialFromOrigin(partial, new HttpOrigin(), { kind: 'url', url: `${server.url}/b` }).catch((e: unknown) => e)) as ShoalError;
    expect(err.code).toBe(ErrorCode.DIGEST_MISMATCH);
    expect(err.message).toMatch(/does not match the sha256 the tracker published/);
    expect(partial.haveCount).toBe(0);
  });

  it('reads in ranges of a few pieces (at least 8 MiB), so that pieces arrive roughly in order', async () => {
    expect(streamingChunkSize(1 << 20)).toBe(8 << 20);
    expect(streamingChunkSize(4 << 20)).toBe(16 << 20);
    expect(streamingChunkSize(3 << 20)).toBe(12 << 20);
    const blob = testBlob(40 * PIECE);
    server = await startServer((req, res) => serveBlob(req, res, blob));
    const partial = await store.openPartial(new Metainfo(digestOf(blob), blob.length, PIECE));
    await fillPartialFromOrigin(partial, new HttpOrigin(), { kind: 'url', url: `${server.url}/b` }, { chunkSize: 8 * PIECE, concurrency: 2 });
    const starts = server.requests.filter((r) => r.method === 'GET').map((r) => Number(/bytes=(\d+)-/.exec(r.range ?? '')![1]));
    expect(starts.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4].map((i) => i * 8 * PIECE));
  });

  it('skips the pieces the partial blob already holds', async () => {
    const blob = testBlob(5 * PIECE);
    server = await startServer((req, res) => serveBlob(req, res, blob));
    const hashes = Buffer.concat(Array.from({ length: 5 }, (_, i) => sha256(blob.subarray(i * PIECE, (i + 1) * PIECE))));
    const meta = new Metainfo(digestOf(blob), blob.length, PIECE, hashes);
    const partial = await store.openPartial(meta);
    await partial.writePiece(1, blob.subarray(PIECE, 2 * PIECE));
    const stored: number[] = [];
    await fillPartialFromOrigin(partial, new HttpOrigin(), { kind: 'url', url: `${server.url}/b` }, { onStored: (i) => stored.push(i) });
    expect(stored.sort()).toEqual([0, 2, 3, 4]);
    expect(store.has(meta.digest)).toBe(true);
  });
});
