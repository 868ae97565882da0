/**
 * Defaults for the origin package, in one place so that the reasons sit next to the numbers.
 */

/** Parallel ranged requests per blob. Enough to fill a 25 Gbit/s link from S3 (~100 MB/s per connection is typical) without opening so many that a registry rate-limits us. */
export const DEFAULT_CONCURRENCY = 8;

/**
 * Bytes per ranged request (rounded to whole pieces). Large enough that per-request latency
 * (token, redirect, first byte: tens of ms) is small next to the transfer, small enough that
 * the ranges of a blob finish close together and the in-order hasher rarely waits long.
 */
export const DEFAULT_CHUNK_SIZE = 32 << 20;

/**
 * Bytes a fetch may hold in memory ahead of the in-order hasher (pieces received out of order
 * plus pieces still being filled). Bounds the memory of one blob fetch no matter its size.
 */
export const DEFAULT_MAX_BUFFER_BYTES = 256 << 20;

/** Failed attempts in a row (without receiving a byte) before a range gives up. */
export const DEFAULT_RETRIES = 5;

/** First retry delay; doubles per attempt without progress, with jitter. */
export const DEFAULT_RETRY_DELAY_MS = 250;

/** Upper bound of one retry delay (also caps a server's Retry-After). */
export const DEFAULT_MAX_RETRY_DELAY_MS = 10_000;

/** Redirects followed per request (registry -> storage is one; CDNs add one or two). */
export const DEFAULT_MAX_REDIRECTS = 5;

/** Time to wait for response headers. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 30_000;

/** Time without a body byte before a response counts as stalled (then resumed by the fetcher). */
export const DEFAULT_BODY_TIMEOUT_MS = 30_000;

/**
 * Bytes an origin that ignores `Range` may make us read and discard to reach a range's start.
 * Past this, a read fails clearly instead of downloading the blob many times over.
 */
export const DEFAULT_MAX_SKIP_BYTES = 64 << 20;

/** Distribution refuses manifests over 4 MiB; so do we. */
export const MAX_MANIFEST_BYTES = 4 << 20;

/** Token lifetime when the token endpoint does not say (the distribution token spec's default). */
export const DEFAULT_TOKEN_TTL_S = 60;

/** Body read size of one response; larger than undici's 64 KiB default for fewer, bigger copies. */
export const BODY_HIGH_WATER_MARK = 1 << 20;

/**
 * Blob size from which the whole-blob sha256 runs on a worker thread: below it, the worker's
 * start-up (tens of ms) costs more than hashing on the event loop.
 */
export const DEFAULT_HASH_WORKER_MIN_SIZE = 64 << 20;
