import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Metainfo, choosePieceLength, deriveInfoHash, parseDigest, ShoalError } from '../src/index.ts';

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

describe('choosePieceLength', () => {
  it('keeps about 1,024 pieces between 1 and 16 MiB', () => {
    expect(choosePieceLength(1000)).toBe(1 << 20);
    expect(choosePieceLength(64 << 20)).toBe(1 << 20);
    expect(choosePieceLength(3e9)).toBe(4 << 20);
    expect(choosePieceLength(200e9)).toBe(16 << 20);
  });
});

describe('Metainfo', () => {
  const blob = randomBytes(2.5 * (1 << 20));
  const digest = parseDigest(`sha256:${sha256(blob).toString('hex')}`);
  const pieceLength = 1 << 20;
  const hashes = Buffer.concat([0, 1, 2].map((i) => sha256(blob.subarray(i * pieceLength, (i + 1) * pieceLength))));

  it('lays out pieces and round-trips through JSON', () => {
    const meta = new Metainfo(digest, blob.length, pieceLength, hashes);
    expect(meta.pieceCount).toBe(3);
    expect(meta.pieceSize(2)).toBe(blob.length - 2 * pieceLength);
    expect(meta.isComplete).toBe(true);
    const copy = Metainfo.fromJSON(JSON.parse(JSON.stringify(meta)), digest);
    expect(Buffer.from(copy.pieceHash(1)!)).toEqual(hashes.subarray(32, 64));
    expect(copy.infoHashHex).toBe(meta.infoHashHex);
  });

  it('publishes piece hashes progressively', () => {
    const meta = new Metainfo(digest, blob.length, pieceLength);
    expect(meta.knownCount).toBe(0);
    meta.setPieceHash(1, hashes.subarray(32, 64));
    const copy = Metainfo.fromJSON(JSON.parse(JSON.stringify(meta)));
    expect(copy.isKnown(0)).toBe(false);
    expect(copy.isKnown(1)).toBe(true);
    expect(copy.pieceHash(0)).toBeUndefined();
  });

  it('derives a 20-byte info-hash that depends on digest and piece length', () => {
    expect(deriveInfoHash(digest, pieceLength)).toHaveLength(20);
    expect(Buffer.from(deriveInfoHash(digest, pieceLength))).not.toEqual(Buffer.from(deriveInfoHash(digest, 2 * pieceLength)));
  });

  it('rejects metainfo for another digest, bad sizes and wrong hash counts', () => {
    const json = new Metainfo(digest, blob.length, pieceLength, hashes).toJSON();
    const other = parseDigest(`sha256:${'0'.repeat(64)}`);
    expect(() => Metainfo.fromJSON(json, other)).toThrow(/expected/);
    expect(() => Metainfo.fromJSON({ ...json, size: -1 })).toThrow(ShoalError);
    expect(() => Metainfo.fromJSON({ ...json, size: 2 ** 60 })).toThrow(ShoalError);
    expect(() => Metainfo.fromJSON({ ...json, pieces: 'AAAA' })).toThrow(/piece hashes/);
    expect(() => Metainfo.fromJSON({ ...json, digest: '../etc/passwd' })).toThrow(/invalid digest/);
  });
});
