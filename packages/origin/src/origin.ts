import type { BlobSource, Digest } from '@shoal/core';

/** A byte range [start, end) of a blob. */
export interface ByteRange {
  start: number;
  end: number;
}

/** What an origin knows about a blob before reading it. */
export interface OriginBlobInfo {
  size: number;
  /**
   * False when the origin is known to ignore byte ranges (an HTTP server that answered a
   * ranged GET with 200); the fetcher then reads the blob as one sequential range instead of
   * downloading it once per parallel range. Undefined when unknown (ranges are assumed).
   */
  acceptsRanges?: boolean;
}

/**
 * A place blobs come from the first time: an OCI registry, an S3 bucket, an HTTP URL, a
 * directory. The seeder reads each blob through one of these exactly once (single-flight,
 * parallel ranges); agents use one directly only as a fallback when the swarm cannot serve.
 *
 * Implementations never check digests themselves (the fetcher and the store do), never log
 * credentials, and map failures to ShoalError codes: BLOB_UNKNOWN (404), ORIGIN_UNAUTHORIZED
 * (401/403 after the auth flow), ORIGIN_UNAVAILABLE (network errors, 5xx, truncated bodies).
 */
export interface Origin {
  /** Short kind for metrics labels and logs: 'directory' | 'http' | 'registry' | 's3'. */
  readonly kind: string;

  /** True when this origin can serve blobs named by this source (or by no source). */
  accepts(source: BlobSource | undefined): boolean;

  /** The blob's size; throws BLOB_UNKNOWN when the origin does not have it. */
  stat(digest: Digest, source: BlobSource | undefined, signal?: AbortSignal): Promise<OriginBlobInfo>;

  /**
   * Streams the bytes of `range`. The stream may end early (a dropped connection): callers
   * count what they received and ask again from there.
   */
  read(
    digest: Digest,
    source: BlobSource | undefined,
    range: ByteRange,
    signal?: AbortSignal,
  ): Promise<AsyncIterable<Uint8Array>>;
}
