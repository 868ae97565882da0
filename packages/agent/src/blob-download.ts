import { EventEmitter } from 'node:events';
import {
  type BlobSource,
  ErrorCode,
  type Logger,
  type PartialBlob,
  ShoalError,
  errorMessage,
  isShoalError,
} from '@shoal/core';
import { type Origin, fillPartialFromOrigin } from '@shoal/origin';
import { Announcer, BlobSwarm, PartialPieceStorage, type SeedState, type SwarmNode, type SwarmObserver, type TrackerClient } from '@shoal/swarm';

/** Where the bytes of one download came from. */
export interface BytesBySource {
  peer: number;
  seeder: number;
  origin: number;
}

export interface BlobDownloadOptions {
  partial: PartialBlob;
  node: SwarmNode;
  /** Undefined when no tracker answered: the download goes to the origin directly. */
  tracker: TrackerClient | undefined;
  /** The seeder's warm-up state when the download started (from the tracker's answer). */
  seedState?: SeedState;
  source: BlobSource | undefined;
  /** The origin to fall back to, when there is one for this blob. */
  fallbackOrigin: Origin | undefined;
  /** A swarm with no stored piece for this long falls back to the origin (default 15 s). */
  stallMs: number;
  maxPeers: number;
  observer: SwarmObserver & { originBytes?(bytes: number): void };
  logger: Logger;
}

/**
 * One blob being fetched by this node: its swarm and announcer, piece hashes still arriving
 * from the tracker during a cold start, and the fallback to the origin when the swarm stalls
 * or no tracker answers. After completion it keeps seeding until the owner closes it.
 *
 * Events: 'complete'; 'failed' (error).
 */
export class BlobDownload extends EventEmitter {
  readonly partial: PartialBlob;
  readonly storage: PartialPieceStorage;
  readonly swarm: BlobSwarm;
  readonly bytes: BytesBySource = { peer: 0, seeder: 0, origin: 0 };
  readonly startedAt = performance.now();
  completedAt: number | undefined;
  readonly #options: BlobDownloadOptions;
  readonly #log: Logger;
  readonly #announcer: Announcer | undefined;
  readonly #abort = new AbortController();
  readonly #watchdog: NodeJS.Timeout;
  #fallback: Promise<void> | undefined;
  fallbackReason: string | undefined;
  #closed = false;

  constructor(options: BlobDownloadOptions) {
    super();
    this.setMaxListeners(0);
    this.#options = options;
    this.partial = options.partial;
    this.#log = options.logger.child({ digest: this.partial.meta.digest });
    this.storage = new PartialPieceStorage(this.partial);
    const observer = options.observer;
    this.swarm = new BlobSwarm({
      meta: this.partial.meta,
      storage: this.storage,
      blob: this.partial,
      maxPeers: options.maxPeers,
      observer: {
        ...observer,
        pieceStored: (source, bytes) => {
          this.bytes[source] += bytes;
          observer.pieceStored?.(source, bytes);
        },
      },
      logger: options.logger,
    });
    options.node.register(this.swarm);
    this.swarm.on('failed', (err: Error) => this.#fail(err));
    if (options.tracker) {
      this.#announcer = new Announcer({
        client: options.tracker,
        node: options.node,
        swarm: this.swarm,
        downloaded: () => this.bytes.peer + this.bytes.seeder + this.bytes.origin,
        onReplicaChange: () => void this.#joinReplica(options.tracker!),
        logger: options.logger,
      });
      this.#announcer.start();
      if (!this.partial.meta.isComplete || options.seedState === 'warming') void this.#followMetainfo(options.tracker, options.seedState);
    } else {
      this.#startFallback('no tracker answered');
    }
    this.#watchdog = setInterval(() => {
      if (!this.swarm.complete && this.swarm.idleMs > options.stallMs) {
        this.#startFallback(`no piece arrived for ${Math.round(this.swarm.idleMs / 1000)} s`);
      }
    }, 1000);
    this.#watchdog.unref();
    this.partial.whenComplete().then(
      () => {
        this.completedAt = performance.now();
        clearInterval(this.#watchdog);
        this.emit('complete');
      },
      (err: Error) => this.#fail(err),
    );
  }

  get complete(): boolean {
    return this.partial.state === 'complete';
  }

  get durationMs(): number {
    return (this.completedAt ?? performance.now()) - this.startedAt;
  }

  /** Asks the tracker for peers now (a reader started waiting). */
  hurry(): void {
    this.#announcer?.announceNow();
  }

  /**
   * Cold start: piece hashes are published as the seeder reads the origin. Followed until
   * every hash is known and the seeder has checked the whole blob against its digest: hashes
   * of bytes that turn out not to be the blob must not outlive the warm-up in this store.
   */
  async #followMetainfo(tracker: TrackerClient, initialState: SeedState | undefined): Promise<void> {
    const meta = this.partial.meta;
    let seedState = initialState;
    while (!this.#closed && this.partial.state === 'writing' && (!meta.isComplete || seedState === 'warming')) {
      try {
        const next = await tracker.seedStatus(meta.digest, {
          ...(this.#options.source ? { source: this.#options.source } : {}),
          // With every hash known, the answer comes when the warm-up ends.
          knownAbove: meta.knownCount,
          waitSeconds: 20,
          signal: this.#abort.signal,
        });
        seedState = next.state;
        this.swarm.updateMetainfo(next.meta);
      } catch (err) {
        if (this.#closed) return;
        if (isShoalError(err, ErrorCode.DIGEST_MISMATCH)) {
          // The seeder found that the origin's bytes are not this blob. The piece hashes it
          // published were computed from those bytes, so the pieces checked against them
          // are worthless: drop them and fail. The next request asks the tracker afresh and,
          // told of the mismatch, fetches from the origin itself where it can.
          this.#fail(err, true);
          return;
        }
        if (!isShoalError(err, ErrorCode.TRACKER_UNAVAILABLE)) {
          // The seeder's warm-up failed (origin down, wrong bytes): only the origin can help.
          this.#startFallback(`tracker: ${errorMessage(err)}`);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  /**
   * Announces now reach another replica (the owner failed, or is back). That replica learns
   * of the blob, warms it and seeds it only when asked for its metainfo: ask, so that the
   * swarm has a seeder again even when every node already has all the piece hashes.
   */
  async #joinReplica(tracker: TrackerClient): Promise<void> {
    if (this.#closed || this.complete) return;
    try {
      const meta = await tracker.metainfo(this.partial.meta.digest, {
        ...(this.#options.source ? { source: this.#options.source } : {}),
        signal: this.#abort.signal,
      });
      this.swarm.updateMetainfo(meta);
    } catch (err) {
      if (!this.#closed) this.#log.warn({ err: errorMessage(err) }, 'the new tracker replica cannot serve the blob');
    }
  }

  /** Fetches what is missing from the origin itself, if there is one (once). */
  #startFallback(reason: string): void {
    if (this.#fallback || this.#closed || this.complete) return;
    const origin = this.#options.fallbackOrigin;
    if (!origin) {
      // Nothing else can deliver: fail, so that readers are cut off instead of waiting
      // forever (containerd then asks the registry), and the next request starts afresh
      // from the pieces verified so far.
      const code = this.#options.tracker ? ErrorCode.SWARM_STALLED : ErrorCode.TRACKER_UNAVAILABLE;
      this.#fail(new ShoalError(code, `${reason}, and no origin to fall back to`));
      return;
    }
    this.fallbackReason = reason;
    this.#log.warn({ reason, origin: origin.kind }, 'falling back to the origin');
    this.#fallback = fillPartialFromOrigin(this.partial, origin, this.#options.source, {
      signal: this.#abort.signal,
      onBytes: (bytes) => {
        this.bytes.origin += bytes;
        this.#options.observer.originBytes?.(bytes);
      },
    }).then(
      () => {},
      (err: unknown) => {
        if (!this.#closed && !this.complete) this.#fail(err instanceof Error ? err : new Error(String(err)));
      },
    );
  }

  /** Fails the download; with `discard`, its pieces go too (they cannot be trusted). */
  #fail(err: Error, discard = false): void {
    if (this.#closed) return;
    this.#log.error({ err: err.message }, 'download failed');
    this.partial.fail(err);
    this.emit('failed', err);
    void this.close()
      .then(() => (discard ? this.partial.discard() : undefined))
      .catch(() => {});
  }

  /** Stops swarming (the stored blob, complete or partial, stays). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#watchdog);
    this.#abort.abort();
    this.swarm.close();
    await this.#announcer?.stop();
  }
}
