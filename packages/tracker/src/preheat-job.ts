import { type BlobSource, type Digest, ErrorCode, ShoalError, errorMessage, isShoalError } from '@shoal/core';
import type { BlobWarmer } from './blob-warmers.ts';

export type PreheatBlobState = 'queued' | 'warming' | 'seeding' | 'failed';
export type PreheatJobState = 'running' | 'done' | 'failed' | 'cancelled';

/** One blob of a job, as `GET /v1/preheat/<id>` shows it. */
export interface PreheatBlob {
  digest: Digest;
  /** Size in bytes, once known (from the image manifest, or the warm-up). */
  size: number | undefined;
  mediaType?: string;
  state: PreheatBlobState;
  /** Bytes warmed so far (whose piece hashes are published). */
  bytes: number;
  /** The tracker replica that warms it, when replicas split the digests. */
  replica?: string;
  error?: { code: string; message: string };
}

/** What the job was asked to warm, for display. */
export interface PreheatImage {
  reference: string;
  /** The manifest or index the reference resolved to. */
  digest: Digest;
  platform?: string;
  manifests: number;
}

export interface PreheatJobInit {
  id: string;
  image?: PreheatImage;
  blobs: Array<{ digest: Digest; source?: BlobSource; size?: number; mediaType?: string }>;
}

/**
 * One preheat: a list of blobs warmed a few at a time, with progress per blob. Done when
 * every blob is seeding; failed when one could not be warmed (the others still are, and say
 * so). Blobs are warmed where agents will look for them (see {@link BlobWarmer}).
 */
export class PreheatJob {
  readonly id: string;
  readonly image: PreheatImage | undefined;
  readonly blobs: PreheatBlob[];
  readonly createdAt = new Date();
  finishedAt: Date | undefined;
  state: PreheatJobState = 'running';
  readonly #sources: Array<BlobSource | undefined>;
  readonly #abort = new AbortController();
  #done: Promise<void> | undefined;

  constructor(init: PreheatJobInit) {
    this.id = init.id;
    this.image = init.image;
    this.blobs = init.blobs.map((b) => ({
      digest: b.digest,
      size: b.size,
      ...(b.mediaType ? { mediaType: b.mediaType } : {}),
      state: 'queued' as const,
      bytes: 0,
    }));
    this.#sources = init.blobs.map((b) => b.source);
  }

  get finished(): boolean {
    return this.state !== 'running';
  }

  /** Warms every blob, `concurrency` at a time (once; later calls return the same promise). */
  run(warmer: BlobWarmer, concurrency: number): Promise<void> {
    this.#done ??= this.#run(warmer, Math.max(1, concurrency));
    return this.#done;
  }

  /** Stops warming (blobs already warming at a seeder carry on there). */
  cancel(): void {
    this.#abort.abort();
  }

  async #run(warmer: BlobWarmer, concurrency: number): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < this.blobs.length && !this.#abort.signal.aborted) {
        const index = next++;
        await this.#warmOne(warmer, index);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, this.blobs.length) }, worker));
    this.finishedAt = new Date();
    if (this.#abort.signal.aborted) this.state = 'cancelled';
    else this.state = this.blobs.every((b) => b.state === 'seeding') ? 'done' : 'failed';
  }

  async #warmOne(warmer: BlobWarmer, index: number): Promise<void> {
    const blob = this.blobs[index]!;
    blob.state = 'warming';
    try {
      await warmer.warm(
        blob.digest,
        this.#sources[index],
        (update) => {
          blob.size = update.size;
          blob.bytes = update.bytes;
          if (update.replica) blob.replica = update.replica;
        },
        this.#abort.signal,
      );
      blob.state = 'seeding';
      blob.bytes = blob.size ?? blob.bytes;
    } catch (err) {
      blob.state = 'failed';
      const error = isShoalError(err) ? err : new ShoalError(ErrorCode.ORIGIN_UNAVAILABLE, errorMessage(err));
      blob.error = { code: error.code, message: error.message };
    }
  }

  toJSON(): Record<string, unknown> {
    const sizes = this.blobs.map((b) => b.size);
    return {
      id: this.id,
      state: this.state,
      ...(this.image ? { image: this.image } : {}),
      createdAt: this.createdAt.toISOString(),
      ...(this.finishedAt ? { finishedAt: this.finishedAt.toISOString(), seconds: (this.finishedAt.getTime() - this.createdAt.getTime()) / 1000 } : {}),
      // Unknown until every size is (blobs named by digest learn theirs when the warm-up starts).
      totalBytes: sizes.every((s) => s !== undefined) ? sizes.reduce<number>((a, s) => a + s!, 0) : null,
      warmBytes: this.blobs.reduce((a, b) => a + b.bytes, 0),
      counts: {
        queued: this.blobs.filter((b) => b.state === 'queued').length,
        warming: this.blobs.filter((b) => b.state === 'warming').length,
        seeding: this.blobs.filter((b) => b.state === 'seeding').length,
        failed: this.blobs.filter((b) => b.state === 'failed').length,
      },
      blobs: this.blobs,
    };
  }
}
