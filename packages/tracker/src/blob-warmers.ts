import { type BlobSource, type Digest, ErrorCode, type Metainfo, ShoalError } from '@shoal/core';
import type { TrackerClient } from '@shoal/swarm';
import type { Seeder } from './seeder.ts';

/** How far one blob's warm-up is. */
export interface WarmProgress {
  size: number;
  /** Bytes whose piece hash is published (all of them once the blob is seeding). */
  bytes: number;
  /** The replica warming it (base URL), when it is not this one. */
  replica?: string;
}

/**
 * Warms a blob where agents will look for it, reporting progress as it goes; resolves once
 * the blob is verified and seeding, rejects with the warm-up's error.
 */
export interface BlobWarmer {
  warm(digest: Digest, source: BlobSource | undefined, progress: (update: WarmProgress) => void, signal: AbortSignal): Promise<void>;
}

/** Bytes covered by the published piece hashes. */
function knownBytes(meta: Metainfo): number {
  if (meta.isComplete) return meta.size;
  let bytes = 0;
  for (let i = 0; i < meta.pieceCount; i++) if (meta.isKnown(i)) bytes += meta.pieceSize(i);
  return bytes;
}

function aborted(): ShoalError {
  return new ShoalError(ErrorCode.ABORTED, 'preheat cancelled');
}

/** Warms blobs in this tracker's own seeder: the single-replica case. */
export class LocalWarmer implements BlobWarmer {
  readonly #seeder: Seeder;

  constructor(seeder: Seeder) {
    this.#seeder = seeder;
  }

  async warm(digest: Digest, source: BlobSource | undefined, progress: (update: WarmProgress) => void, signal: AbortSignal): Promise<void> {
    const blob = await this.#seeder.ensure(digest, source);
    for (;;) {
      if (signal.aborted) throw aborted();
      progress({ size: blob.meta.size, bytes: blob.state === 'seeding' ? blob.meta.size : knownBytes(blob.meta) });
      if (blob.state === 'seeding') return;
      if (blob.state === 'failed') throw blob.error ?? new ShoalError(ErrorCode.ORIGIN_UNAVAILABLE, `warming ${digest} failed`);
      await blob.waitForHashes(blob.meta.knownCount, 5000, signal);
    }
  }
}

/** Progress reports per blob, at most (each one is a metainfo long poll answered). */
const STEPS = 20;

/**
 * Warms each blob at its owner among the tracker replicas, as agents will look for it there
 * (rendezvous hashing; the next replica when the owner is down), by long-polling the owner's
 * metainfo endpoint: asking starts the warm-up, and each answer comes when another ~5% of
 * the piece hashes are published, or when the warm-up ends.
 */
export class ReplicaWarmer implements BlobWarmer {
  readonly #client: TrackerClient;

  constructor(client: TrackerClient) {
    this.#client = client;
  }

  async warm(digest: Digest, source: BlobSource | undefined, progress: (update: WarmProgress) => void, signal: AbortSignal): Promise<void> {
    let knownAbove: number | undefined;
    for (;;) {
      if (signal.aborted) throw aborted();
      const status = await this.#client.seedStatus(digest, {
        ...(source ? { source } : {}),
        ...(knownAbove !== undefined ? { knownAbove, waitSeconds: 20 } : {}),
        signal,
      });
      const { meta } = status;
      const seeding = status.state === 'seeding' || (status.state === undefined && meta.isComplete);
      progress({ size: meta.size, bytes: seeding ? meta.size : knownBytes(meta), replica: status.replica });
      if (seeding) return;
      // All hashes known (the digest check is running): wait for the state to change.
      const step = Math.max(1, Math.ceil(meta.pieceCount / STEPS));
      knownAbove = meta.isComplete ? meta.pieceCount : Math.min(meta.pieceCount - 1, meta.knownCount + step - 1);
    }
  }
}
