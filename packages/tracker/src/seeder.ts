import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type BlobSource,
  type ContentStore,
  type Digest,
  ErrorCode,
  type Logger,
  Metainfo,
  type PartialBlob,
  ShoalError,
  type TokenBucket,
  choosePieceLength,
  digestHex,
  errorMessage,
  isShoalError,
} from '@shoal/core';
import { type Origin, fillPartialFromOrigin } from '@shoal/origin';
import {
  BlobSwarm,
  CompletePieceStorage,
  SEEDER_MAX_PEERS,
  PartialPieceStorage,
  type PieceStorage,
  type SwarmNode,
  type SwarmObserver,
} from '@shoal/swarm';
import type { AnnounceServer } from './announce-server.ts';

export type SeededState = 'warming' | 'seeding' | 'failed';

/** Counters the tracker's metrics read. */
export interface SeederObserver extends SwarmObserver {
  originBytes?(origin: string, bytes: number): void;
  warmed?(origin: string, seconds: number): void;
  warmFailed?(origin: string): void;
}

export interface SeederOptions {
  store: ContentStore;
  /** The seeder's peer node (role 'seeder'). */
  node: SwarmNode;
  /** Origins in the order they are tried for a blob. */
  origins: readonly Origin[];
  announce: AnnounceServer;
  /** Address agents dial to reach this seeder (the pod IP). */
  advertiseHost: string;
  /** Ranged requests per blob (default 8). */
  fetchConcurrency?: number;
  /** Origin-wide ingress limit shared by all fetches. */
  originRate?: TokenBucket;
  /** A seeded blob with no peers for this long stops seeding (it stays stored; default 10 min). */
  idleMs?: number;
  observer?: SeederObserver;
  logger: Logger;
}

/**
 * One blob this seeder serves: its metainfo (piece hashes published as the origin's bytes
 * arrive), its swarm, and where its warm-up stands.
 *
 * Events: 'hashes' when more piece hashes are known; 'state' (SeededState).
 */
export class SeededBlob extends EventEmitter {
  readonly meta: Metainfo;
  readonly swarm: BlobSwarm;
  readonly origin: string;
  state: SeededState;
  error: ShoalError | undefined;
  originBytes = 0;
  readonly startedAt = Date.now();
  readyAt: number | undefined;

  constructor(meta: Metainfo, swarm: BlobSwarm, origin: string, state: SeededState) {
    super();
    this.setMaxListeners(0);
    this.meta = meta;
    this.swarm = swarm;
    this.origin = origin;
    this.state = state;
  }

  setState(state: SeededState, error?: ShoalError): void {
    this.state = state;
    this.error = error;
    if (state === 'seeding') this.readyAt = Date.now();
    this.emit('state', state);
    this.emit('hashes');
  }

  /** Resolves once more than `known` piece hashes are known, the warm-up ends, or time runs out. */
  waitForHashes(known: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.meta.knownCount > known || this.state !== 'warming') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off('hashes', check);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const check = () => {
        if (this.meta.knownCount > known || this.state !== 'warming') done();
      };
      const timer = setTimeout(done, timeoutMs);
      this.on('hashes', check);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

/**
 * The super-peer: fetches each blob from its origin once (single-flight, parallel ranged
 * reads), publishes piece hashes as bytes arrive so agents can start on a blob the seeder is
 * still reading, and seeds it with super-seeding. Verified blobs stay in its store, with
 * their metainfo, so a restarted seeder serves them without reading them again.
 */
export class Seeder {
  readonly #options: SeederOptions;
  readonly #log: Logger;
  readonly #blobs = new Map<Digest, Promise<SeededBlob>>();
  /** The store pin of each entry of #blobs: a blob warming or seeded is never evicted. */
  readonly #pins = new Map<Promise<SeededBlob>, () => void>();
  readonly #sweep: NodeJS.Timeout;
  readonly #onEvict: (digest: Digest) => void;
  #stopped = false;

  constructor(options: SeederOptions) {
    this.#options = options;
    this.#log = options.logger;
    const idleMs = options.idleMs ?? 600_000;
    this.#sweep = setInterval(() => this.#announceAndSweep(idleMs), Math.min(15_000, Math.max(1000, idleMs / 2)));
    this.#sweep.unref();
    // An evicted blob's metainfo goes with it (it is recomputed if the blob comes back).
    this.#onEvict = (digest) => void rm(this.#metainfoPath(digest), { force: true }).catch(() => {});
    options.store.on('evict', this.#onEvict);
  }

  get #metainfoDir(): string {
    return join(this.#options.store.root, 'metainfo');
  }

  #metainfoPath(digest: Digest): string {
    return join(this.#metainfoDir, `${digestHex(digest)}.json`);
  }

  isSeederPeer(peerId: string): boolean {
    return peerId === this.#options.node.peerIdHex;
  }

  /** Blobs currently seeded or warming (settled ones only). */
  async list(): Promise<SeededBlob[]> {
    const settled = await Promise.allSettled(this.#blobs.values());
    return settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  }

  /**
   * The seeded blob for a digest: from the store when it is there, otherwise warming from the
   * first origin that has it. Resolves as soon as the blob's size is known, before its bytes
   * are in. One warm-up per digest however many callers ask (single-flight).
   */
  ensure(digest: Digest, source?: BlobSource): Promise<SeededBlob> {
    if (this.#stopped) return Promise.reject(new ShoalError(ErrorCode.ABORTED, 'seeder is stopping'));
    const existing = this.#blobs.get(digest);
    if (existing) return existing;
    // Pinned from before its store space is reserved until it stops seeding: eviction makes
    // room with idle blobs only, never with one an agent may be pulling.
    const unpin = this.#options.store.pin(digest);
    this.#options.store.touch(digest);
    const starting = this.#start(digest, source);
    this.#blobs.set(digest, starting);
    this.#pins.set(starting, unpin);
    starting.then(
      (blob) => {
        blob.once('state', (state: SeededState) => {
          // A failed warm-up is remembered briefly (pollers learn why), then forgotten so a
          // later request tries the origin again.
          if (state === 'failed') setTimeout(() => this.#forget(digest, starting), 30_000).unref();
        });
      },
      () => this.#forget(digest, starting),
    );
    return starting;
  }

  #forget(digest: Digest, entry: Promise<SeededBlob>): void {
    if (this.#blobs.get(digest) === entry) this.#blobs.delete(digest);
    this.#pins.get(entry)?.();
    this.#pins.delete(entry);
  }

  async #start(digest: Digest, source: BlobSource | undefined): Promise<SeededBlob> {
    const { store } = this.#options;
    if (store.has(digest)) {
      const meta = await this.#storedMetainfo(digest);
      const storage = await CompletePieceStorage.open(meta, store.pathOf(digest));
      return this.#seed(meta, storage, undefined, 'store', 'seeding');
    }
    const { origin, size } = await this.#locate(digest, source);
    const meta = new Metainfo(digest, size, choosePieceLength(size));
    const partial = await store.openPartial(meta);
    // Pieces kept from an interrupted warm-up: their hashes are recomputed from disk.
    for (let i = 0; i < meta.pieceCount; i++) {
      if (partial.hasPiece(i)) meta.setPieceHash(i, sha256(await partial.read(meta.pieceOffset(i), meta.pieceSize(i))));
    }
    const blob = this.#seed(meta, new PartialPieceStorage(partial), partial, origin.kind, 'warming');
    void this.#warm(blob, origin, source, partial);
    return blob;
  }

  #seed(meta: Metainfo, storage: PieceStorage, partial: PartialBlob | undefined, origin: string, state: SeededState): SeededBlob {
    const { node, observer } = this.#options;
    const swarm = new BlobSwarm({
      meta,
      storage,
      ...(partial ? { blob: partial } : {}),
      superSeed: true,
      maxPeers: SEEDER_MAX_PEERS,
      ...(observer ? { observer } : {}),
      logger: this.#log,
    });
    node.register(swarm);
    const blob = new SeededBlob(meta, swarm, origin, state);
    this.#announce(blob, 'started');
    return blob;
  }

  /** The first origin (in configured order) that accepts the source and has the blob. */
  async #locate(digest: Digest, source: BlobSource | undefined): Promise<{ origin: Origin; size: number }> {
    const candidates = this.#options.origins.filter((o) => o.accepts(source));
    if (candidates.length === 0) {
      throw new ShoalError(ErrorCode.BLOB_UNKNOWN, `no origin is configured for ${source ? `a ${source.kind} source` : 'blobs without a source'}`);
    }
    let firstError: unknown;
    for (const origin of candidates) {
      try {
        const { size } = await origin.stat(digest, source);
        return { origin, size };
      } catch (err) {
        if (!isShoalError(err, ErrorCode.BLOB_UNKNOWN)) firstError ??= err;
      }
    }
    throw firstError ?? new ShoalError(ErrorCode.BLOB_UNKNOWN, `no origin has ${digest}`);
  }

  async #warm(blob: SeededBlob, origin: Origin, source: BlobSource | undefined, partial: PartialBlob): Promise<void> {
    const { meta } = blob;
    const { observer } = this.#options;
    const started = performance.now();
    try {
      // The seeder is the authority for piece hashes: it computes them from the origin's bytes
      // as they arrive. If the whole blob then fails its digest, the warm-up fails, no agent
      // can complete the blob, and agents fall back.
      await fillPartialFromOrigin(partial, origin, source, {
        concurrency: this.#options.fetchConcurrency ?? 8,
        ...(this.#options.originRate ? { rateLimiter: this.#options.originRate } : {}),
        onBytes: (bytes) => {
          blob.originBytes += bytes;
          observer?.originBytes?.(origin.kind, bytes);
        },
        onStored: (index, bytes) => {
          // Agents ask for a piece as soon as its hash is out: serve it from memory, not disk
          // (a preheat, with no agent yet, does not pay for the copy).
          if (blob.swarm.peers.size > 0) blob.swarm.storage.remember(index, Buffer.from(bytes));
          blob.emit('hashes');
        },
      });
      await partial.whenComplete();
      await this.#saveMetainfo(meta);
      blob.setState('seeding');
      observer?.warmed?.(origin.kind, (performance.now() - started) / 1000);
      this.#announce(blob, 'completed');
      this.#log.info({ digest: meta.digest, size: meta.size, origin: origin.kind, seconds: (performance.now() - started) / 1000 }, 'blob warmed');
    } catch (err) {
      const error =
        err instanceof ShoalError ? err : new ShoalError(ErrorCode.ORIGIN_UNAVAILABLE, errorMessage(err), { cause: err });
      observer?.warmFailed?.(origin.kind);
      this.#log.error({ digest: meta.digest, origin: origin.kind, err: error.message, code: error.code }, 'warm-up failed');
      partial.fail(error);
      if (error.code === ErrorCode.DIGEST_MISMATCH) await partial.discard().catch(() => {});
      blob.swarm.close();
      blob.setState('failed', error);
    }
  }

  async #storedMetainfo(digest: Digest): Promise<Metainfo> {
    const path = join(this.#metainfoDir, `${digestHex(digest)}.json`);
    try {
      return Metainfo.fromJSON(JSON.parse(await readFile(path, 'utf8')), digest);
    } catch {
      // Missing or unreadable: recompute from the stored (verified) blob.
      const size = this.#options.store.sizeOf(digest)!;
      const meta = new Metainfo(digest, size, choosePieceLength(size));
      const storage = await CompletePieceStorage.open(meta, this.#options.store.pathOf(digest), 0);
      try {
        for (let i = 0; i < meta.pieceCount; i++) meta.setPieceHash(i, sha256(await storage.readBlock(i, 0, meta.pieceSize(i))));
      } finally {
        await storage.close();
      }
      await this.#saveMetainfo(meta);
      return meta;
    }
  }

  async #saveMetainfo(meta: Metainfo): Promise<void> {
    await mkdir(this.#metainfoDir, { recursive: true });
    const path = join(this.#metainfoDir, `${digestHex(meta.digest)}.json`);
    await writeFile(`${path}.tmp`, JSON.stringify(meta));
    await rename(`${path}.tmp`, path);
  }

  #announce(blob: SeededBlob, event?: 'started' | 'completed' | 'stopped'): void {
    const { announce, node, advertiseHost } = this.#options;
    announce.announceLocal({
      infoHashHex: blob.meta.infoHashHex,
      peerIdHex: node.peerIdHex,
      host: advertiseHost,
      port: node.port,
      left: blob.swarm.bytesLeft,
      ...(event ? { event } : {}),
    });
  }

  #announceAndSweep(idleMs: number): void {
    for (const [digest, entry] of this.#blobs) {
      void entry.then(
        (blob) => {
          if (blob.state === 'failed') return;
          const idle = blob.swarm.peers.size === 0 && Date.now() - Math.max(blob.swarm.lastPieceAt, blob.readyAt ?? 0) > idleMs;
          if (idle && blob.state === 'seeding') {
            this.#announce(blob, 'stopped');
            blob.swarm.close();
            // Last used now: least recently used first when the store must make room.
            this.#options.store.touch(digest);
            this.#forget(digest, entry);
            return;
          }
          this.#announce(blob);
        },
        () => {},
      );
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#sweep);
    this.#options.store.off('evict', this.#onEvict);
    for (const blob of await this.list()) blob.swarm.close();
    this.#blobs.clear();
    for (const unpin of this.#pins.values()) unpin();
    this.#pins.clear();
  }
}

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}
