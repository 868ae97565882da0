import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Digest, ErrorCode, ShoalError } from '@shoal/core';
import { afterAll, describe, expect, it } from 'vitest';
import { DirectoryOrigin, fetchBlob } from '../src/index.ts';
import { digestOf, testBlob } from './helpers/blob-server.ts';

const root = mkdtempSync(join(tmpdir(), 'shoal-dir-origin-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function put(sub: string, blob: Buffer): Digest {
  const digest = digestOf(blob);
  const dir = join(root, sub);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, digest.slice(7)), blob);
  return digest;
}

describe('DirectoryOrigin', () => {
  it('finds blobs in an OCI layout, a sha256/ directory, or flat, and reads ranges', async () => {
    const origin = new DirectoryOrigin({ root });
    expect(origin.accepts(undefined)).toBe(true);
    expect(origin.accepts({ kind: 'url', url: 'http://x' })).toBe(false);
    for (const [sub, seed] of [['blobs/sha256', 1], ['sha256', 2], ['', 3]] as const) {
      const blob = testBlob(300_000 + seed, seed);
      const digest = put(sub, blob);
      expect(await origin.stat(digest, undefined)).toEqual({ size: blob.length, acceptsRanges: true });
      const pieces: Buffer[] = [];
      await fetchBlob(origin, digest, undefined, {
        pieceLength: 64 * 1024,
        chunkSize: 64 * 1024,
        onPiece: (i, b) => void (pieces[i] = Buffer.from(b)),
      });
      expect(Buffer.concat(pieces).equals(blob)).toBe(true);
    }
  });

  it('answers BLOB_UNKNOWN for a missing blob and refuses anything but a digest', async () => {
    const origin = new DirectoryOrigin({ root });
    const err = await origin.stat(digestOf(Buffer.from('absent')), undefined).catch((e: ShoalError) => e);
    expect((err as ShoalError).code).toBe(ErrorCode.BLOB_UNKNOWN);
    const bad = await origin.stat('sha256:../../etc/passwd' as Digest, undefined).catch((e: ShoalError) => e);
    expect((bad as ShoalError).code).toBe(ErrorCode.INVALID_DIGEST);
    const digest = put('', testBlob(10));
    const range = await origin.read(digest, undefined, { start: 0, end: 11 }).catch((e: ShoalError) => e);
    expect((range as ShoalError).code).toBe(ErrorCode.ORIGIN_UNAVAILABLE);
    expect(() => new DirectoryOrigin({ root: '' })).toThrow(/root/);
  });
});
