import { createHash } from 'node:crypto';
import { type BlobSource, ErrorCode, type PartialBlob, ShoalError, type TokenBucket, isShoalError, shortDigest } from '@shoal/core';
import { type FetchBlobStats, fetchBlob } from './fetch-blob.ts';
import type { Origin } from './origin.ts';

export interface FillPartialOptions {
  concurrency?: number;
  /** Bytes per ranged request (default {@link streamingChunkSize}). */
  chunkSize?: number;
  rateLimiter?: TokenBucket;
  signal?: AbortSignal;
  /** Called with every byte count received from the origin. */
  onBytes?: (bytes: number) => void;
  /**
   * Called after each piece from the origin is stored, with its bytes: valid during the call
   * only (the buffer is reused), so copy what you keep (a seeder keeps fresh pieces in
   * memory, for the agents about to ask for them).
   */
  onStored?: (index: number, bytes: Uint8Array) => void;
}

/**
 * Bytes per ranged request when filling a blob that readers may be streaming: a few pieces,
 * at least 8 MiB. The parallel requests then cover one window near the front that moves
 * along the blob, so pieces become available roughly in order (a reader streaming from the
 * start, and the whole-blob hash that follows the contiguous prefix, keep up during a cold
 * start), instead of one long range per connection spread over the whole blob, where the
 * first megabytes arrive no sooner than the last. Requests stay long enough that their
 * latency is small next to their transfer.
 */
export function streamingChunkSize(pieceLength: number): number {
  return Math.max(4 * pieceLength, Math.ceil((8 << 20) / pieceLength) * pieceLength);
}

/**
 * Fills a partial blob straight from its origin: the seeder's warm-up, and an agent's
 * fallback when the swarm cannot deliver. Resolves once the blob is verified and published.
 *
 * Pieces whose hash the metainfo already knows (from the tracker) are checked against it;
 * for the others this node computes the hash from the origin's bytes, which is what makes
 * the seeder the authority for piece hashes. Either way the partial blob is published only
 * after the sha256 of all its bytes equals the digest; when it does not, this rejects with
 * DIGEST_MISMATCH and the blob's bytes are gone from the store.
 *
 * Each byte is hashed twice, the minimum: once for its piece hash, and once for the whole
 * blob, by the partial blob's hash thread reading what was written. The store does not hash a
 * piece again (it is handed the hash), and the fetcher's own whole-blob check is off: those
 * were a third and a fourth hash of every byte.
 */
export async function fillPartialFromOrigin(
  partial: PartialBlob,
  origin: Origin,
  source: BlobSource | undefined,
  options: FillPartialOptions = {},
): Promise<FetchBlobStats> {
  const { meta } = partial;
  const stats = await fetchBlob(origin, meta.digest, source, {
    size: meta.size,
    pieceLength: meta.pieceLength,
    checkDigest: false,
    chunkSize: options.chunkSize ?? streamingChunkSize(meta.pieceLength),
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    ...(options.rateLimiter ? { rateLimiter: options.rateLimiter } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    onPiece: async (index, bytes) => {
      options.onBytes?.(bytes.length);
      if (partial.hasPiece(index)) return;
      const hash = pieceHash(bytes);
      if (!meta.isKnown(index)) meta.setPieceHash(index, hash);
      try {
        if (await partial.writeHashedPiece(index, bytes, hash)) options.onStored?.(index, bytes);
      } catch (err) {
        if (!isShoalError(err, ErrorCode.PIECE_MISMATCH)) throw err;
        throw new ShoalError(
          ErrorCode.DIGEST_MISMATCH,
          `blob ${shortDigest(meta.digest)}: piece ${index} from the ${origin.kind} origin does not match the sha256 the tracker published; ` +
            'the origin serves other content under this digest (or the tracker read it from one that does)',
          { cause: err, details: { digest: meta.digest, piece: index, origin: origin.kind } },
        );
      }
    },
  });
  try {
    await partial.whenComplete();
  } catch (err) {
    if (!isShoalError(err, ErrorCode.DIGEST_MISMATCH)) throw err;
    const actual = err.details?.actual;
    throw new ShoalError(
      ErrorCode.DIGEST_MISMATCH,
      `blob ${shortDigest(meta.digest)} from the ${origin.kind} origin: its ${meta.size} bytes hash to ${String(actual ?? 'another digest')}, ` +
        `not ${meta.digest}; the origin serves other content under this digest, and nothing of it was kept`,
      { cause: err, details: { digest: meta.digest, actual, size: meta.size, origin: origin.kind } },
    );
  }
  return stats;
}

/**
 * sha256 of a piece, on the event loop. Measured against WebCrypto's digest (which runs on
 * libuv's thread pool but copies each piece there first): the copies and their garbage cost
 * more CPU in all than the hash they move, and the pool is where the piece writes queue.
 */
function pieceHash(bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest();
}
