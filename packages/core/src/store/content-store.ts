import { EventEmitter } from 'node:events';
import { mkdir, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Digest, digestHex, isDigest } from '../digest.ts';
import { ErrorCode, ShoalError, errorMessage } from '../errors.ts';
import { type Logger, silentLogger } from '../logger.ts';
import type { Metainfo } from '../metainfo.ts';
import { PartialBlob } from './partial-blob.ts';

export interface ContentStoreOptions {
  /** Directory that holds everything; created if missing. */
  root: string;
  /** Bytes the store may use; 0 means unbounded. */
  capacity?: number;
  /** Fraction of capacity at which eviction starts (default 0.9). */
  highWatermark?: number;
  /** Fraction of capacity eviction frees down to (default 0.8). */
  lowWatermark?: number;
  logger?: Logger;
}

interface CompleteEntry {
  size: number;
  lastAccess: number;
}

/** A blob on this node: complete, or partially written. */
export interface StoredBlobInfo {
  digest: Digest;
  size: number;
  complete: boolean;
  lastAccess?: number;
}

const CLEAN_MARKER = 'clean-shutdown';

/**
 * The node's content-addressed blob store.
 *
 * Layout under `root`: `blobs/sha256/<hex>` holds verified blobs; `partial/sha256/<hex>`
 * and `<hex>.pieces` hold blobs being filled. Paths are built only from validated digests.
 * Blobs are evicted least recently used first when the store passes its high watermark,
 * never while pinned (a reader or a download holds them). A `clean-shutdown` marker tells the
 * next start whether partial blobs' piece records can be trusted or must be re-verified.
 *
 * Events: 'complete' (digest) when a partial blob is verified and published; 'evict' (digest).
 */
export class ContentStore extends EventEmitter {
  readonly root: string;
  readonly capacity: number;
  readonly highWatermark: number;
  readonly lowWatermark: number;
  readonly #log: Logger;
  readonly #complete = new Map<Digest, CompleteEntry>();
  readonly #partials = new Map<Digest, Promise<PartialBlob>>();
  /** Partial blobs not closed yet (complete ones included), closed at stop. */
  readonly #open = new Set<PartialBlob>();
  readonly #partialSizes = new Map<Digest, number>();
  readonly #pins = new Map<Digest, number>();
  #trustClaims = true;
  #started = false;

  constructor(options: ContentStoreOptions) {
    super();
    this.root = options.root;
    this.capacity = options.capacity ?? 0;
    this.highWatermark = options.highWatermark ?? 0.9;
    this.lowWatermark = options.lowWatermark ?? 0.8;
    if (!(this.lowWatermark > 0 && this.lowWatermark <= this.highWatermark && this.highWatermark <= 1)) {
      throw new ShoalError(ErrorCode.INVALID_CONFIG, 'store watermarks must satisfy 0 < low <= high <= 1');
    }
    this.#log = options.logger ?? silentLogger();
  }

  get #blobDir(): string {
    return join(this.root, 'blobs', 'sha256');
  }

  get #partialDir(): string {
    return join(this.root, 'partial', 'sha256');
  }

  async start(): Promise<void> {
    await mkdir(this.#blobDir, { recursive: true });
    await mkdir(this.#partialDir, { recursive: true });
    const marker = join(this.root, CLEAN_MARKER);
    this.#trustClaims = await stat(marker).then(
      () => true,
      () => false,
    );
    await rm(marker, { force: true });
    for (const name of await readdir(this.#blobDir)) {
      const digest = `sha256:${name}`;
      if (!isDigest(digest)) continue;
      const info = await stat(join(this.#blobDir, name));
      this.#complete.set(digest, { size: info.size, lastAccess: info.atimeMs });
    }
    for (const name of await readdir(this.#partialDir)) {
      const digest = `sha256:${name}`;
      if (!isDigest(digest)) continue;
      const info = await stat(join(this.#partialDir, name));
      this.#partialSizes.set(digest, info.size);
    }
    this.#started = true;
    this.#log.info(
      { blobs: this.#complete.size, partial: this.#partialSizes.size, usedBytes: this.usedBytes, cleanStart: this.#trustClaims },
      'content store opened',
    );
  }

  /** Closes open partial blobs and records a clean shutdown. */
  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    await Promise.allSettled(this.#partials.values());
    for (const blob of [...this.#open]) await blob.close();
    this.#partials.clear();
    await writeFile(join(this.root, CLEAN_MARKER), `${new Date().toISOString()}\n`);
  }

  /** Bytes used by complete and partial blobs (partials count at their full size). */
  get usedBytes(): number {
    let total = 0;
    for (const entry of this.#complete.values()) total += entry.size;
    for (const size of this.#partialSizes.values()) total += size;
    return total;
  }

  has(digest: Digest): boolean {
    return this.#complete.has(digest);
  }

  sizeOf(digest: Digest): number | undefined {
    return this.#complete.get(digest)?.size;
  }

  /** Path of a complete blob. */
  pathOf(digest: Digest): string {
    return join(this.#blobDir, digestHex(digest));
  }

  /** Records a read, for least-recently-used eviction. */
  touch(digest: Digest): void {
    const entry = this.#complete.get(digest);
    if (!entry) return;
    entry.lastAccess = Date.now();
    const seconds = entry.lastAccess / 1000;
    // Keep the access time on disk too, so the order survives a restart.
    utimes(this.pathOf(digest), seconds, seconds).catch(() => {});
  }

  /** Keeps a blob from eviction until the returned function is called. */
  pin(digest: Digest): () => void {
    this.#pins.set(digest, (this.#pins.get(digest) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const count = (this.#pins.get(digest) ?? 1) - 1;
      if (count <= 0) this.#pins.delete(digest);
      else this.#pins.set(digest, count);
    };
  }

  list(): StoredBlobInfo[] {
    const blobs: StoredBlobInfo[] = [];
    for (const [digest, entry] of this.#complete) blobs.push({ digest, size: entry.size, complete: true, lastAccess: entry.lastAccess });
    for (const [digest, size] of this.#partialSizes) blobs.push({ digest, size, complete: false });
    return blobs;
  }

  /** The open partial blob for this digest, if a download has it open. */
  openedPartial(digest: Digest): Promise<PartialBlob> | undefined {
    return this.#partials.get(digest);
  }

  /**
   * Opens the partial blob for this metainfo, creating or resuming it; one per digest, shared
   * by every caller while it is being written. Makes room first (eviction); throws STORE_FULL
   * when it cannot. The caller that opened it closes it when it no longer reads from it.
   */
  openPartial(meta: Metainfo): Promise<PartialBlob> {
    const existing = this.#partials.get(meta.digest);
    if (existing) return existing;
    const opening = (async () => {
      if (!this.#partialSizes.has(meta.digest)) await this.reserve(meta.size);
      this.#partialSizes.set(meta.digest, meta.size);
      const hex = digestHex(meta.digest);
      const blob = await PartialBlob.open(
        meta,
        {
          data: join(this.#partialDir, hex),
          pieces: join(this.#partialDir, `${hex}.pieces`),
          complete: join(this.#blobDir, hex),
        },
        this.#trustClaims,
      );
      // The blob stays open after it completes or fails: its owner (the download or seeder
      // that opened it) may still be serving readers from it, and closes it when done.
      this.#open.add(blob);
      blob.once('close', () => this.#open.delete(blob));
      blob.once('complete', () => {
        this.#partialSizes.delete(meta.digest);
        this.#partials.delete(meta.digest);
        this.#complete.set(meta.digest, { size: meta.size, lastAccess: Date.now() });
        this.#log.info({ digest: meta.digest, size: meta.size }, 'blob verified and stored');
        this.emit('complete', meta.digest);
      });
      blob.once('failed', (err: Error) => {
        this.#partials.delete(meta.digest);
        this.#log.warn({ digest: meta.digest, err: errorMessage(err) }, 'partial blob failed');
        // Wrong whole-blob bytes are removed by the blob itself; other failures keep the
        // verified pieces on disk for a later resume.
        if (err instanceof ShoalError && err.code === ErrorCode.DIGEST_MISMATCH) this.#partialSizes.delete(meta.digest);
      });
      return blob;
    })();
    this.#partials.set(meta.digest, opening);
    opening.catch(() => this.#partials.delete(meta.digest));
    return opening;
  }

  /** Removes a blob, complete or partial, unless pinned. */
  async remove(digest: Digest): Promise<boolean> {
    if (this.#pins.has(digest) || this.#partials.has(digest)) return false;
    const hex = digestHex(digest);
    if (this.#complete.delete(digest)) await rm(join(this.#blobDir, hex), { force: true });
    if (this.#partialSizes.delete(digest)) {
      await rm(join(this.#partialDir, hex), { force: true });
      await rm(join(this.#partialDir, `${hex}.pieces`), { force: true });
    }
    this.emit('evict', digest);
    return true;
  }

  /**
   * Makes room for `bytes` more: when usage would pass the high watermark, evicts unpinned
   * blobs, least recently used first, down to the low watermark. Throws STORE_FULL if the
   * blob cannot fit even then.
   */
  async reserve(bytes: number): Promise<void> {
    if (this.capacity === 0) return;
    if (bytes > this.capacity * this.highWatermark) {
      throw new ShoalError(ErrorCode.STORE_FULL, `blob of ${bytes} bytes exceeds the store's capacity of ${this.capacity}`);
    }
    if (this.usedBytes + bytes <= this.capacity * this.highWatermark) return;
    const target = this.capacity * this.lowWatermark - bytes;
    const candidates = [...this.#complete.entries()]
      .filter(([digest]) => !this.#pins.has(digest))
      .sort((a, b) => a[1].lastAccess - b[1].lastAccess);
    // Abandoned partial blobs (no download has them open) go after complete ones.
    const partials = [...this.#partialSizes.keys()].filter((d) => !this.#partials.has(d) && !this.#pins.has(d));
    for (const digest of [...candidates.map(([d]) => d), ...partials]) {
      if (this.usedBytes <= target) break;
      await this.remove(digest);
      this.#log.info({ digest }, 'evicted blob');
    }
    if (this.usedBytes + bytes > this.capacity * this.highWatermark) {
      throw new ShoalError(
        ErrorCode.STORE_FULL,
        `store is full: ${this.usedBytes} of ${this.capacity} bytes used by pinned blobs, ${bytes} more needed`,
      );
    }
  }
}

