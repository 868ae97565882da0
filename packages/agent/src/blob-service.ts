import {
  type BlobSource,
  type ContentStore,
  type Digest,
  ErrorCode,
  type Logger,
  Metainfo,
  ShoalError,
  choosePieceLength,
  isShoalError,
} from '@shoal/core';
import type { Origin } from '@shoal/origin';
import type { SeedState, SwarmNode, TrackerClient } from '@shoal/swarm';
import { BlobDownload } from './blob-download.ts';
import type { AgentMetrics } from './metrics.ts';

/** A blob ready to be read: already in the store, or arriving through a download. */
export type BlobHandle =
  | { kind: 'stored'; digest: Digest; size: number; path: string; release: () => void }
  | { kind: 'download'; digest: Digest; size: number; download: BlobDownload; release: () => void };

export interface BlobServiceOptions {
  store: ContentStore;
  node: SwarmNode;
  /** Undefined when the agent runs without a tracker (origin only). */
  tracker: TrackerClient | undefined;
  /** The origin this agent may fetch a blob from itself, for a source (fallback). */
  originFor: (source: BlobSource | undefined) => Origin | undefined;
  /** A swarm with no progress for this long falls back to the origin (default 15 s). */
  stallMs?: number;
  /** Connections per blob (default 10). */
  maxPeers?: number;
  /** A complete blob keeps seeding until it has had no peer for this long (default 10 min). */
  seedIdleMs?: number;
  metrics: AgentMetrics;
  /** The registry label of a pull's metrics, by source (default "none"); must be a bounded set. */
  registryLabel?: (source: BlobSource | undefined) => string;
  logger: Logger;
}

/** Tracker answers after which the agent may still get the blob from the origin itself. */
const ORIGIN_CAN_HELP: ReadonlySet<string> = new Set([
  ErrorCode.TRACKER_UNAVAILABLE,
  // The seeder could not reach the origin, or was refused: this node's own fetch may fare better.
  ErrorCode.ORIGIN_UNAVAILABLE,
  ErrorCode.ORIGIN_UNAUTHORIZED,
  // The seeder got bytes that are not the blob (a corrupting proxy or cache on its way to the
  // origin, say). This node's fetch is checked the same way, so it serves the blob or fails
  // just as clearly; a client without Shoal would have fetched it from the origin too.
  ErrorCode.DIGEST_MISMATCH,
]);

/**
 * The agent's blobs: answers "give me this digest" from the store, from a download already
 * under way, or by starting one (one download per digest, however many readers). Finished
 * downloads keep seeding for a while so later nodes can pull from this one.
 */
export class BlobService {
  readonly #options: BlobServiceOptions;
  readonly #log: Logger;
  readonly #downloads = new Map<Digest, Promise<BlobDownload>>();
  readonly #sweep: NodeJS.Timeout;

  constructor(options: BlobServiceOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.#sweep = setInterval(() => this.#closeIdle(), 5000);
    this.#sweep.unref();
  }

  /** Downloads under way or seeding. */
  async active(): Promise<BlobDownload[]> {
    const settled = await Promise.allSettled(this.#downloads.values());
    return settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  }

  /**
   * Opens a blob for reading. Throws BLOB_UNKNOWN when neither the tracker nor the origin has
   * it, TRACKER_UNAVAILABLE when no tracker answers and there is no origin to fall back to.
   * The handle pins the blob against eviction until released.
   */
  async open(digest: Digest, source?: BlobSource): Promise<BlobHandle> {
    const { store } = this.#options;
    const release = store.pin(digest);
    try {
      if (store.has(digest)) {
        store.touch(digest);
        return { kind: 'stored', digest, size: store.sizeOf(digest)!, path: store.pathOf(digest), release };
      }
      let starting = this.#downloads.get(digest);
      if (!starting) {
        starting = this.#start(digest, source);
        this.#downloads.set(digest, starting);
        starting.catch(() => this.#forget(digest, starting!));
      }
      const download = await starting;
      if (download.complete && store.has(digest)) {
        return { kind: 'stored', digest, size: download.partial.meta.size, path: store.pathOf(digest), release };
      }
      download.hurry();
      return { kind: 'download', digest, size: download.partial.meta.size, download, release };
    } catch (err) {
      release();
      throw err;
    }
  }

  #forget(digest: Digest, entry: Promise<BlobDownload>): void {
    if (this.#downloads.get(digest) === entry) this.#downloads.delete(digest);
  }

  async #start(digest: Digest, source: BlobSource | undefined): Promise<BlobDownload> {
    const { store, tracker, metrics } = this.#options;
    const origin = this.#options.originFor(source);
    let meta: Metainfo;
    let seedState: SeedState | undefined;
    let swarmTracker = tracker;
    try {
      if (!tracker) throw new ShoalError(ErrorCode.TRACKER_UNAVAILABLE, 'no tracker configured');
      ({ meta, state: seedState } = await tracker.seedStatus(digest, source ? { source } : {}));
    } catch (err) {
      // Never make a pull worse: without a tracker the agent goes to the origin itself.
      if (!isShoalError(err) || !ORIGIN_CAN_HELP.has(err.code) || !origin) throw err;
      this.#log.warn({ digest, err: err.message }, 'the tracker cannot serve this blob: fetching from the origin');
      const { size } = await origin.stat(digest, source);
      meta = new Metainfo(digest, size, choosePieceLength(size));
      swarmTracker = undefined;
    }
    const partial = await store.openPartial(meta);
    // Verified pieces already here (a resumed download): the "store" share of this pull.
    const resumedBytes = partial.bytesHave;
    const registry = this.#options.registryLabel?.(source) ?? 'none';
    const where = source?.kind === 'registry' ? { registry: source.registry, repository: source.repository } : {};
    const download = new BlobDownload({
      partial,
      node: this.#options.node,
      tracker: swarmTracker,
      ...(swarmTracker && seedState ? { seedState } : {}),
      source,
      fallbackOrigin: origin,
      stallMs: this.#options.stallMs ?? 15_000,
      maxPeers: this.#options.maxPeers ?? 10,
      observer: metrics.swarmObserver,
      logger: this.#log,
    });
    const entry = this.#downloads.get(digest);
    download.once('complete', () => {
      metrics.pullCompleted(download, registry);
      this.#log.info(
        {
          digest,
          ...where,
          size: meta.size,
          durationMs: Math.round(download.durationMs),
          bytes: { store: resumedBytes, ...download.bytes },
          ...(download.fallbackReason ? { fallback: download.fallbackReason } : {}),
        },
        'blob pulled',
      );
    });
    download.once('failed', (err: Error) => {
      metrics.pullFailed(registry);
      this.#log.warn({ digest, ...where, err: err.message }, 'blob pull failed');
      if (entry) this.#forget(digest, entry);
    });
    return download;
  }

  #closeIdle(): void {
    const idleMs = this.#options.seedIdleMs ?? 600_000;
    for (const [digest, entry] of this.#downloads) {
      void entry.then(
        (download) => {
          if (download.complete && download.swarm.peers.size === 0 && download.swarm.idleMs > idleMs) {
            this.#forget(digest, entry);
            void download.close();
          }
        },
        () => {},
      );
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#sweep);
    for (const download of await this.active()) await download.close();
    this.#downloads.clear();
  }
}
