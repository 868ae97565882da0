import {
  type BlobSource,
  type Digest,
  ErrorCode,
  MAX_BLOB_SIZE,
  ShoalError,
  type TokenBucket,
  choosePieceLength,
  digestHex,
  parseDigest,
  shortDigest,
} from '@shoal/core';
import {
  DEFAULT_CHUNK_SIZE,
  DEFAULT_CONCURRENCY,
  DEFAULT_HASH_WORKER_MIN_SIZE,
  DEFAULT_MAX_BUFFER_BYTES,
  DEFAULT_MAX_RETRY_DELAY_MS,
  DEFAULT_RETRIES,
  DEFAULT_RETRY_DELAY_MS,
} from './constants.ts';
import { abortError, isRetryable } from './http-errors.ts';
import { type HashThread, InOrderHasher } from './in-order-hasher.ts';
import { PiecePool } from './piece-pool.ts';
import type { ByteRange, Origin } from './origin.ts';
import { backoffDelay, sleep } from './retry.ts';

/** Options of {@link fetchBlob}. */
export interface FetchBlobOptions {
  /** The blob's size; when absent the origin is asked (`stat`). */
  size?: number;
  /** False when the origin ignores Range (see OriginBlobInfo); taken from `stat` when `size` is absent. */
  acceptsRanges?: boolean;
  /** Piece length of the blob's metainfo; default `choosePieceLength(size)`. */
  pieceLength?: number;
  /** Ranged requests in flight at once (default 8). */
  concurrency?: number;
  /** Bytes per ranged request, rounded up to whole pieces (default: the blob split across `concurrency`, 1 piece to 32 MiB). */
  chunkSize?: number;
  /** Origin-wide ingress limit, shared by every fetch from that origin. */
  rateLimiter?: TokenBucket;
  /** Failed attempts in a row, without a byte of progress, before a range gives up (default 5). */
  retries?: number;
  /** First retry delay in ms (default 250; doubles per failure, with jitter, up to `maxRetryDelayMs`). */
  retryDelayMs?: number;
  /** Cap of one retry delay in ms (default 10 s). */
  maxRetryDelayMs?: number;
  /**
   * Bytes held in memory ahead of the in-order blob hasher (default 256 MiB). Without
   * `readPiece`, ranges beyond this distance from the hashed prefix wait to start; with it,
   * pieces past the budget are dropped after `onPiece` and read back when the hash needs them.
   */
  maxBufferBytes?: number;
  /**
   * Reads back a piece that `onPiece` has stored (resolved). Lets the fetch run ranges far
   * apart without holding their pieces in memory until the whole-blob hash reaches them.
   */
  readPiece?: (index: number) => Promise<Uint8Array>;
  /**
   * Called once per piece, in any order, as soon as all its bytes are in. The piece's bytes
   * are NOT yet checked against the digest (that happens when the whole blob is in): the
   * caller checks/derives piece hashes and must not mark the blob complete before
   * `fetchBlob` resolves. The fetch waits for a returned promise (backpressure).
   *
   * `bytes` is valid until that promise resolves (or the call returns): the buffer is then
   * reused for another piece, so copy what you keep. Do not modify it.
   */
  onPiece?: (index: number, bytes: Buffer) => void | Promise<void>;
  /**
   * Where the whole-blob sha256 runs. 'worker' moves it (about a core-second per GiB) off
   * the event loop that receives the bytes; default: 'worker' from 64 MiB, 'main' below.
   */
  hashThread?: HashThread;
  /**
   * Whether this fetch checks the whole blob's sha256 against the digest (default true).
   * False when the caller checks it anyway, so the bytes are not hashed twice: a
   * PartialBlob does, before it publishes the blob (see {@link fillPartialFromOrigin}).
   * Without the check no piece is held or read back, and the fetch resolves once every
   * piece went through `onPiece`: nothing about the bytes is known to be right then.
   */
  checkDigest?: boolean;
  signal?: AbortSignal;
}

/** What one {@link fetchBlob} did. */
export interface FetchBlobStats {
  /** Bytes received from the origin (each blob byte once: retries resume). */
  bytes: number;
  /** Requests sent to the origin (stat, ranges, retries; not redirects or token requests). */
  requests: number;
  /** Attempts that failed and were retried. */
  retries: number;
  durationMs: number;
  /** Bytes of piece buffers allocated (filling, waiting for the hasher, being hashed): the fetch's peak data memory. */
  peakBufferedBytes: number;
  /** Bytes read back through `readPiece`. */
  rereadBytes: number;
}

/** The ranges a fetch requests: runs of whole pieces. Exported for tests and the benchmark. */
export function planRanges(size: number, pieceLength: number, chunkSize: number): ByteRange[] {
  const step = Math.max(1, Math.ceil(chunkSize / pieceLength)) * pieceLength;
  const ranges: ByteRange[] = [];
  for (let start = 0; start < size; start += step) ranges.push({ start, end: Math.min(size, start + step) });
  return ranges;
}

/** Default bytes per range: the blob split across the connections, one piece to 32 MiB. */
export function defaultChunkSize(size: number, pieceLength: number, concurrency: number): number {
  const perConnection = Math.ceil(size / concurrency / pieceLength) * pieceLength;
  return Math.max(pieceLength, Math.min(DEFAULT_CHUNK_SIZE, perConnection));
}

function positiveInteger(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `fetchBlob: ${name} must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

/**
 * Fetches a blob from an origin once: parallel ranged reads (each a run of whole pieces),
 * every piece handed to `onPiece` exactly once as soon as it is complete, and the sha256 of
 * the whole blob computed in order as the contiguous prefix grows and checked against the
 * digest (DIGEST_MISMATCH otherwise).
 *
 * Retries resume: a range that fails mid-body is asked again from the byte it reached, so
 * no byte is fetched twice; the attempt counter resets whenever a byte arrives, so only
 * `retries` failures in a row without progress give up. Errors that retrying cannot fix
 * (BLOB_UNKNOWN, ORIGIN_UNAUTHORIZED, bad ranges) fail at once. On any failure the other
 * ranges are cancelled and no `onPiece` call happens after the returned promise settles.
 *
 * Memory stays near `maxBufferBytes` (+ one piece per connection) whatever the blob's size.
 * Single-flight per digest is the caller's concern ({@link SingleFlight}).
 */
export async function fetchBlob(
  origin: Origin,
  digest: Digest,
  source: BlobSource | undefined,
  options: FetchBlobOptions = {},
): Promise<FetchBlobStats> {
  parseDigest(digest);
  const what = `blob ${shortDigest(digest)} from ${origin.kind} origin`;
  const outer = options.signal;
  if (outer?.aborted) throw abortError(outer, what);
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(abortError(outer, what));
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  const started = performance.now();
  const stats: FetchBlobStats = { bytes: 0, requests: 0, retries: 0, durationMs: 0, peakBufferedBytes: 0, rereadBytes: 0 };
  try {
    let { size, acceptsRanges } = options;
    if (size === undefined) {
      stats.requests++;
      const info = await origin.stat(digest, source, controller.signal);
      size = info.size;
      acceptsRanges ??= info.acceptsRanges;
    }
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_BLOB_SIZE) {
      throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `${what}: invalid size ${size}`);
    }
    const run = new BlobFetch(origin, digest, source, size, acceptsRanges !== false, options, controller, stats, what);
    await run.run();
    return stats;
  } finally {
    outer?.removeEventListener('abort', onOuterAbort);
    stats.durationMs = performance.now() - started;
  }
}

/** The state of one fetch; see {@link fetchBlob}. */
class BlobFetch {
  readonly #origin: Origin;
  readonly #digest: Digest;
  readonly #source: BlobSource | undefined;
  readonly #size: number;
  readonly #pieceLength: number;
  readonly #ranges: ByteRange[];
  readonly #concurrency: number;
  readonly #maxBuffer: number;
  readonly #retries: number;
  readonly #backoff: { baseMs: number; maxMs: number };
  readonly #options: FetchBlobOptions;
  readonly #controller: AbortController;
  readonly #stats: FetchBlobStats;
  readonly #what: string;
  /** The whole-blob hash; undefined when the caller checks the digest itself. */
  readonly #hasher: InOrderHasher | undefined;
  readonly #pool: PiecePool;
  /** Errors thrown by the caller's onPiece: never retried. */
  readonly #callerErrors = new WeakSet<object>();
  #nextRange = 0;
  #failure: unknown;

  constructor(
    origin: Origin,
    digest: Digest,
    source: BlobSource | undefined,
    size: number,
    ranged: boolean,
    options: FetchBlobOptions,
    controller: AbortController,
    stats: FetchBlobStats,
    what: string,
  ) {
    this.#origin = origin;
    this.#digest = digest;
    this.#source = source;
    this.#size = size;
    this.#options = options;
    this.#controller = controller;
    this.#stats = stats;
    this.#what = what;
    this.#pieceLength = positiveInteger('pieceLength', options.pieceLength, choosePieceLength(size));
    const concurrency = positiveInteger('concurrency', options.concurrency, DEFAULT_CONCURRENCY);
    this.#retries = positiveInteger('retries', options.retries, DEFAULT_RETRIES, 0);
    this.#maxBuffer = positiveInteger('maxBufferBytes', options.maxBufferBytes, DEFAULT_MAX_BUFFER_BYTES);
    this.#backoff = {
      baseMs: positiveInteger('retryDelayMs', options.retryDelayMs, DEFAULT_RETRY_DELAY_MS, 0),
      maxMs: positiveInteger('maxRetryDelayMs', options.maxRetryDelayMs, DEFAULT_MAX_RETRY_DELAY_MS, 0),
    };
    // An origin that ignores Range gets one sequential range: parallel ranges would each
    // download the blob from its first byte.
    const chunkSize = ranged
      ? positiveInteger('chunkSize', options.chunkSize, defaultChunkSize(size, this.#pieceLength, concurrency))
      : Math.max(size, 1);
    this.#ranges = planRanges(size, this.#pieceLength, chunkSize);
    this.#concurrency = ranged ? Math.min(concurrency, this.#ranges.length) : 1;
    const thread = options.hashThread ?? (size >= DEFAULT_HASH_WORKER_MIN_SIZE ? 'worker' : 'main');
    this.#pool = new PiecePool(this.#pieceLength);
    this.#hasher =
      options.checkDigest === false
        ? undefined
        : new InOrderHasher({
            size,
            pieceLength: this.#pieceLength,
            maxHeldBytes: this.#maxBuffer,
            readPiece: options.readPiece,
            thread,
          });
    controller.signal.addEventListener('abort', () => this.#hasher?.fail(controller.signal.reason), { once: true });
  }

  async run(): Promise<void> {
    const workers = Array.from({ length: this.#concurrency }, () => this.#worker().catch((err: unknown) => this.#fail(err)));
    await Promise.all(workers);
    if (this.#failure !== undefined) throw this.#failure;
    const signal = this.#controller.signal;
    if (signal.aborted) throw abortError(signal, this.#what);
    if (!this.#hasher) return;
    const hex = await this.#hasher.finish();
    this.#stats.rereadBytes = this.#hasher.rereadBytes;
    if (hex !== digestHex(this.#digest)) {
      throw new ShoalError(
        ErrorCode.DIGEST_MISMATCH,
        `${this.#what}: the ${this.#size} bytes received hash to sha256:${hex}, not ${this.#digest}; ` +
          'the origin serves other content under this digest, and no piece of this fetch may be kept',
        { details: { digest: this.#digest, actual: `sha256:${hex}`, size: this.#size, origin: this.#origin.kind } },
      );
    }
  }

  #fail(err: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = err;
    this.#hasher?.fail(err);
    // Cancels every other range; their abort errors are not reported (the first error is).
    if (!this.#controller.signal.aborted) this.#controller.abort(err);
  }

  /**
   * Whether a range may start now. The range that holds the hash cursor always may (its
   * pieces are hashed as they arrive); others only within `maxBufferBytes` of the cursor,
   * unless dropped pieces can be read back.
   */
  #mayStart(range: ByteRange): boolean {
    if (!this.#hasher) return true;
    const hashed = this.#hasher.hashedBytes;
    return this.#options.readPiece !== undefined || range.start <= hashed || range.end - hashed <= this.#maxBuffer;
  }

  async #worker(): Promise<void> {
    const signal = this.#controller.signal;
    while (!signal.aborted) {
      const range = this.#ranges[this.#nextRange];
      if (range === undefined) return;
      if (!this.#mayStart(range)) {
        await this.#hasher!.waitForProgress();
        continue;
      }
      this.#nextRange++;
      await this.#fetchRange(range);
    }
  }

  /** Hands a complete piece to the caller, then to the hasher, which releases its buffer once hashed. */
  async #deliver(index: number, piece: Buffer): Promise<void> {
    const buffer = piece.buffer as ArrayBuffer;
    const release = () => this.#pool.release(buffer);
    // Once the fetch has failed, the caller hears of no more pieces.
    if (this.#controller.signal.aborted) {
      release();
      throw abortError(this.#controller.signal, this.#what);
    }
    try {
      await this.#options.onPiece?.(index, piece);
    } catch (err) {
      release();
      const error = err instanceof Error ? err : new Error(String(err));
      this.#callerErrors.add(error);
      throw error;
    }
    if (this.#hasher) this.#hasher.add(index, piece, (returned) => this.#pool.release(returned));
    else release();
  }

  /** Reads one range to its end, resuming after failures at the byte reached. */
  async #fetchRange(range: ByteRange): Promise<void> {
    const signal = this.#controller.signal;
    const limiter = this.#options.rateLimiter;
    const pieceLength = this.#pieceLength;
    let pos = range.start;
    let piece: Buffer | undefined;
    let buffer: Buffer | undefined;
    let pieceIndex = 0;
    let fill = 0;
    let failures = 0;
    try {
      while (pos < range.end) {
        if (signal.aborted) throw abortError(signal, this.#what);
        this.#stats.requests++;
        try {
          const body = await this.#origin.read(this.#digest, this.#source, { start: pos, end: range.end }, signal);
          for await (const data of body) {
            const n = Math.min(data.length, range.end - pos);
            if (limiter) await limiter.consume(n);
            let off = 0;
            while (off < n) {
              if (piece === undefined) {
                pieceIndex = Math.floor(pos / pieceLength);
                buffer = this.#pool.acquire();
                const length = Math.min(pieceLength, this.#size - pieceIndex * pieceLength);
                piece = length === pieceLength ? buffer : buffer.subarray(0, length);
                fill = 0;
              }
              const take = Math.min(n - off, piece.length - fill);
              piece.set(off === 0 && take === data.length ? data : data.subarray(off, off + take), fill);
              fill += take;
              off += take;
              pos += take;
              this.#stats.bytes += take;
              if (fill === piece.length) {
                const done = piece;
                piece = undefined;
                await this.#deliver(pieceIndex, done);
              }
            }
            failures = 0;
            if (pos >= range.end) break;
          }
          if (pos < range.end) {
            throw new ShoalError(
              ErrorCode.ORIGIN_UNAVAILABLE,
              `${this.#what}: response ended at byte ${pos}, range ${range.start}-${range.end - 1}`,
            );
          }
        } catch (err) {
          if (signal.aborted) throw abortError(signal, this.#what);
          if ((typeof err === 'object' && err !== null && this.#callerErrors.has(err)) || !isRetryable(err)) throw err;
          failures++;
          if (failures > this.#retries) {
            throw new ShoalError(
              ErrorCode.ORIGIN_UNAVAILABLE,
              `${this.#what}: range ${range.start}-${range.end - 1} failed ${failures} times in a row at byte ${pos}: ${(err as Error).message}`,
              { cause: err, details: { retryable: false } },
            );
          }
          this.#stats.retries++;
          const retryAfter = err instanceof ShoalError ? (err.details?.retryAfterMs as number | undefined) : undefined;
          await sleep(backoffDelay(failures, this.#backoff, retryAfter), signal, this.#what);
        }
      }
    } finally {
      if (buffer !== undefined && piece !== undefined) this.#pool.release(buffer.buffer as ArrayBuffer);
      this.#stats.peakBufferedBytes = this.#pool.allocated * pieceLength;
    }
  }
}
