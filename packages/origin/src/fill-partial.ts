import { createHash } from 'node:crypto';
import type { BlobSource, PartialBlob, TokenBucket } from '@shoal/core';
import { type FetchBlobStats, fetchBlob } from './fetch-blob.ts';
import type { Origin } from './origin.ts';

export interface FillPartialOptions {
  concurrency?: number;
  rateLimiter?: TokenBucket;
  signal?: AbortSignal;
  /** Called with every byte count received from the origin. */
  onBytes?: (bytes: number) => void;
  /** Called after each piece from the origin is stored. */
  onStored?: (index: number) => void;
}

/**
 * Fills a partial blob straight from its origin: the seeder's warm-up, and an agent's
 * fallback when the swarm cannot deliver.
 *
 * Pieces whose hash the metainfo already knows (from the tracker) are checked against it;
 * for the others this node computes the hash from the origin's bytes, which is what makes
 * the seeder the authority for piece hashes. Either way the partial blob is published only
 * after the sha256 of all its bytes equals the digest, and fetchBlob fails (DIGEST_MISMATCH)
 * if the origin's bytes do not add up to the digest.
 */
export function fillPartialFromOrigin(
  partial: PartialBlob,
  origin: Origin,
  source: BlobSource | undefined,
  options: FillPartialOptions = {},
): Promise<FetchBlobStats> {
  const { meta } = partial;
  return fetchBlob(origin, meta.digest, source, {
    size: meta.size,
    pieceLength: meta.pieceLength,
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    ...(options.rateLimiter ? { rateLimiter: options.rateLimiter } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    readPiece: (index) => partial.read(meta.pieceOffset(index), meta.pieceSize(index)),
    onPiece: async (index, bytes) => {
      options.onBytes?.(bytes.length);
      if (partial.hasPiece(index)) return;
      if (!meta.isKnown(index)) meta.setPieceHash(index, createHash('sha256').update(bytes).digest());
      if (await partial.writePiece(index, bytes)) options.onStored?.(index);
      // A peer's copy of this piece may be mid-write: the blob hash must not read it early.
      else await partial.waitForPiece(index);
    },
  });
}
