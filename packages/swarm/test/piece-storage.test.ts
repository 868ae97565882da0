import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentStore, Metainfo, parseDigest } from '@shoal/core';
import { BLOCK_LENGTH, PartialPieceStorage, uploadBlocks } from '../src/index.ts';

const PIECE = 1 << 20;

/** Whether two byte ranges are equal (a boolean: a failed diff of 256 KiB takes vitest minutes to print). */
const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;

function makeBlob(pieces: number) {
  const bytes = randomBytes(pieces * PIECE);
  const digest = parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  const hashes = Buffer.concat(Array.from({ length: pieces }, (_, i) => createHash('sha256').update(bytes.subarray(i * PIECE, (i + 1) * PIECE)).digest()));
  return { bytes, meta: new Metainfo(digest, bytes.length, PIECE, hashes), piece: (i: number) => bytes.subarray(i * PIECE, (i + 1) * PIECE) };
}

describe('PartialPieceStorage', () => {
  let root: string;
  let store: ContentStore;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'shoal-pieces-'));
    store = new ContentStore({ root });
    await store.start();
  });
  afterEach(async () => {
    await store.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('reuses the buffer of an evicted piece, while every block it handed out keeps its bytes', async () => {
    const blob = makeBlob(4);
    // A cache of two pieces: storing the third evicts the first.
    const storage = new PartialPieceStorage(await store.openPartial(blob.meta), 2 * PIECE);
    const buffers: Buffer[] = [];
    const blocks: Uint8Array[] = [];
    for (let i = 0; i < 4; i++) {
      const buffer = storage.pieceBuffer(PIECE);
      buffers.push(buffer);
      buffer.set(blob.piece(i));
      expect(await storage.writePiece(i, buffer)).toBe(true);
      // A block of the piece just stored: served from the cache.
      blocks.push(await storage.readBlock(i, BLOCK_LENGTH, BLOCK_LENGTH));
    }
    // Piece 0 left the cache when piece 2 came in, so piece 3 was assembled in its buffer.
    expect(buffers[3]).toBe(buffers[0]);
    // Blocks are copies: the reused buffer now holds piece 3, the block of piece 0 does not.
    expect(blocks.map((block, i) => same(block, blob.piece(i).subarray(BLOCK_LENGTH, 2 * BLOCK_LENGTH)))).toEqual([true, true, true, true]);
    // An evicted piece is read back from the disk.
    expect(same(await storage.readBlock(0, 0, BLOCK_LENGTH), blob.piece(0).subarray(0, BLOCK_LENGTH))).toBe(true);
    for (const block of blocks) uploadBlocks.release(block);
    await storage.close();
  });

  it('takes back the buffer of a piece that does not match, for the next piece', async () => {
    const blob = makeBlob(2);
    const storage = new PartialPieceStorage(await store.openPartial(blob.meta), 2 * PIECE);
    const buffer = storage.pieceBuffer(PIECE);
    buffer.set(blob.piece(1));
    await expect(storage.writePiece(0, buffer)).rejects.toMatchObject({ code: 'PIECE_MISMATCH' });
    expect(storage.pieceBuffer(PIECE)).toBe(buffer);
    await storage.close();
  });
});
