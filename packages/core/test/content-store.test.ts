import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentStore, ErrorCode, Metainfo, parseDigest, type ShoalError } from '../src/index.ts';

const PIECE = 1 << 20;

function makeBlob(size: number) {
  const bytes = randomBytes(size);
  const digest = parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  const count = Math.ceil(size / PIECE);
  const hashes = Buffer.concat(
    Array.from({ length: count }, (_, i) => createHash('sha256').update(bytes.subarray(i * PIECE, (i + 1) * PIECE)).digest()),
  );
  const meta = new Metainfo(digest, size, PIECE, hashes);
  const piece = (i: number) => bytes.subarray(i * PIECE, Math.min(size, (i + 1) * PIECE));
  return { bytes, digest, meta, piece, count };
}

describe('ContentStore', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'shoal-store-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('stores verified pieces out of order, serves them while writing, and publishes the verified blob', async () => {
    const store = new ContentStore({ root });
    await store.start();
    const blob = makeBlob(5 * PIECE + 12345);
    const partial = await store.openPartial(blob.meta);
    const order = [3, 0, 5, 1, 4, 2];
    await partial.writePiece(order[0]!, blob.piece(order[0]!));
    expect(partial.hasPiece(3)).toBe(true);
    expect(await partial.read(3 * PIECE, 100)).toEqual(blob.bytes.subarray(3 * PIECE, 3 * PIECE + 100));
    const waiter = partial.waitForPiece(2);
    for (const i of order.slice(1)) await partial.writePiece(i, blob.piece(i));
    await waiter;
    await partial.whenComplete();
    expect(store.has(blob.digest)).toBe(true);
    expect(await readFile(store.pathOf(blob.digest))).toEqual(blob.bytes);
    await store.stop();
  });

  it('rejects a piece whose bytes do not match and writes nothing', async () => {
    const store = new ContentStore({ root });
    await store.start();
    const blob = makeBlob(2 * PIECE);
    const partial = await store.openPartial(blob.meta);
    const bad = Buffer.from(blob.piece(0));
    bad[10] = bad[10]! ^ 0xff;
    await expect(partial.writePiece(0, bad)).rejects.toMatchObject({ code: ErrorCode.PIECE_MISMATCH });
    await expect(partial.writePiece(0, blob.piece(0).subarray(1))).rejects.toMatchObject({ code: ErrorCode.PIECE_MISMATCH });
    expect(partial.hasPiece(0)).toBe(false);
    await store.stop();
  });

  it('stores a piece hashed by the caller only when that hash is the metainfo one', async () => {
    const store = new ContentStore({ root });
    await store.start();
    const blob = makeBlob(2 * PIECE);
    const partial = await store.openPartial(blob.meta);
    const hash0 = createHash('sha256').update(blob.piece(0)).digest();
    await expect(partial.writeHashedPiece(1, blob.piece(1), hash0)).rejects.toMatchObject({ code: ErrorCode.PIECE_MISMATCH });
    expect(partial.hasPiece(1)).toBe(false);
    expect(await partial.writeHashedPiece(0, blob.piece(0), hash0)).toBe(true);
    expect(await partial.writeHashedPiece(0, blob.piece(0), hash0)).toBe(false);
    await partial.writeHashedPiece(1, blob.piece(1), createHash('sha256').update(blob.piece(1)).digest());
    await partial.whenComplete();
    expect(await readFile(store.pathOf(blob.digest))).toEqual(blob.bytes);
    await store.stop();
  });

  it('resumes after a clean stop without re-verifying, and re-verifies claims after a crash', async () => {
    const blob = makeBlob(4 * PIECE);
    let store = new ContentStore({ root });
    await store.start();
    let partial = await store.openPartial(blob.meta);
    await partial.writePiece(0, blob.piece(0));
    await partial.writePiece(2, blob.piece(2));
    await store.stop();

    store = new ContentStore({ root });
    await store.start();
    partial = await store.openPartial(blob.meta);
    expect([0, 1, 2, 3].map((i) => partial.hasPiece(i))).toEqual([true, false, true, false]);
    // Simulate a crash (no clean stop) that left piece 2's bytes damaged.
    await partial.close();
    const dataPath = partial.paths.data;
    const data = await readFile(dataPath);
    data[2 * PIECE + 7] = data[2 * PIECE + 7]! ^ 0xff;
    await writeFile(dataPath, data);

    store = new ContentStore({ root });
    await store.start();
    partial = await store.openPartial(blob.meta);
    expect([0, 1, 2, 3].map((i) => partial.hasPiece(i))).toEqual([true, false, false, false]);
    for (const i of [1, 2, 3]) await partial.writePiece(i, blob.piece(i));
    await partial.whenComplete();
    expect(await readFile(store.pathOf(blob.digest))).toEqual(blob.bytes);
    await store.stop();
  });

  it('fails the blob when verified pieces do not add up to the digest (wrong piece hashes)', async () => {
    const store = new ContentStore({ root });
    await store.start();
    const blob = makeBlob(2 * PIECE);
    const liar = makeBlob(2 * PIECE);
    // Metainfo claiming liar's pieces make up blob's digest.
    const json = liar.meta.toJSON();
    const meta = Metainfo.fromJSON({ ...json, digest: blob.digest });
    const partial = await store.openPartial(meta);
    await partial.writePiece(0, liar.piece(0));
    await partial.writePiece(1, liar.piece(1));
    await expect(partial.whenComplete()).rejects.toMatchObject({ code: ErrorCode.DIGEST_MISMATCH });
    expect(store.has(blob.digest)).toBe(false);
    await store.stop();
  });

  it('evicts least recently used unpinned blobs past the high watermark', async () => {
    const store = new ContentStore({ root, capacity: 10 * PIECE, highWatermark: 0.8, lowWatermark: 0.5 });
    await store.start();
    const blobs = [makeBlob(3 * PIECE), makeBlob(3 * PIECE), makeBlob(3 * PIECE)];
    for (const blob of blobs.slice(0, 2)) {
      const partial = await store.openPartial(blob.meta);
      for (let i = 0; i < blob.count; i++) await partial.writePiece(i, blob.piece(i));
      await partial.whenComplete();
    }
    store.touch(blobs[0]!.digest);
    const release = store.pin(blobs[0]!.digest);
    await store.openPartial(blobs[2]!.meta);
    // blobs[1] was older but blobs[0] is pinned anyway: blobs[1] goes.
    expect(store.has(blobs[0]!.digest)).toBe(true);
    expect(store.has(blobs[1]!.digest)).toBe(false);
    release();
    const huge = makeBlob(PIECE);
    const tooBig = new Metainfo(huge.digest, 20 * PIECE, PIECE);
    await expect(store.openPartial(tooBig)).rejects.toMatchObject({ code: ErrorCode.STORE_FULL } as Partial<ShoalError>);
    await store.stop();
  });
});
