import { open, type FileHandle } from 'node:fs/promises';
import type { Metainfo, PartialBlob } from '@shoal/core';

/**
 * Where a swarm reads the pieces it uploads and writes the pieces it downloads: a partial
 * blob being filled, or a complete blob in the store. Recently used pieces stay in a small
 * memory cache, so a piece sent to several peers in a row (common right after it arrived) is
 * read from disk once, not once per 256 KiB block.
 */
export interface PieceStorage {
  readonly complete: boolean;
  hasPiece(index: number): boolean;
  /** Reads part of a stored piece. */
  readBlock(index: number, offset: number, length: number): Promise<Uint8Array>;
  /** Verifies and stores a piece (see PartialBlob.writePiece); complete storage stores nothing. */
  writePiece(index: number, bytes: Uint8Array): Promise<boolean>;
  /** Keeps a piece that was just written in the cache. */
  remember(index: number, bytes: Uint8Array): void;
  close(): Promise<void>;
}

class PieceCache {
  readonly #pieces = new Map<number, Uint8Array>();
  #bytes = 0;
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get(index: number): Uint8Array | undefined {
    const piece = this.#pieces.get(index);
    if (piece) {
      // Map keeps insertion order: re-inserting makes it the most recently used.
      this.#pieces.delete(index);
      this.#pieces.set(index, piece);
    }
    return piece;
  }

  set(index: number, piece: Uint8Array): void {
    if (piece.length > this.#limit || this.#pieces.has(index)) return;
    this.#pieces.set(index, piece);
    this.#bytes += piece.length;
    for (const [oldest, bytes] of this.#pieces) {
      if (this.#bytes <= this.#limit) break;
      this.#pieces.delete(oldest);
      this.#bytes -= bytes.length;
    }
  }
}

const DEFAULT_CACHE_BYTES = 64 << 20;

abstract class CachedStorage implements PieceStorage {
  abstract readonly complete: boolean;
  protected readonly meta: Metainfo;
  readonly #cache: PieceCache;
  readonly #loading = new Map<number, Promise<Uint8Array>>();

  constructor(meta: Metainfo, cacheBytes: number) {
    this.meta = meta;
    this.#cache = new PieceCache(cacheBytes);
  }

  abstract hasPiece(index: number): boolean;
  abstract writePiece(index: number, bytes: Uint8Array): Promise<boolean>;
  abstract close(): Promise<void>;
  protected abstract readRange(offset: number, length: number): Promise<Uint8Array>;

  remember(index: number, bytes: Uint8Array): void {
    this.#cache.set(index, bytes);
  }

  async readBlock(index: number, offset: number, length: number): Promise<Uint8Array> {
    let piece = this.#cache.get(index);
    if (!piece) {
      let loading = this.#loading.get(index);
      if (!loading) {
        loading = this.readRange(this.meta.pieceOffset(index), this.meta.pieceSize(index));
        this.#loading.set(index, loading);
        loading.then(
          (bytes) => {
            this.#loading.delete(index);
            this.#cache.set(index, bytes);
          },
          () => this.#loading.delete(index),
        );
      }
      piece = await loading;
    }
    return piece.subarray(offset, offset + length);
  }
}

/** Pieces of a blob being downloaded (or warmed by the seeder). */
export class PartialPieceStorage extends CachedStorage {
  readonly #blob: PartialBlob;

  constructor(blob: PartialBlob, cacheBytes = DEFAULT_CACHE_BYTES) {
    super(blob.meta, cacheBytes);
    this.#blob = blob;
  }

  get complete(): boolean {
    return this.#blob.state === 'complete';
  }

  hasPiece(index: number): boolean {
    return this.#blob.hasPiece(index);
  }

  async writePiece(index: number, bytes: Uint8Array): Promise<boolean> {
    const stored = await this.#blob.writePiece(index, bytes);
    if (stored) this.remember(index, bytes);
    return stored;
  }

  protected readRange(offset: number, length: number): Promise<Uint8Array> {
    return this.#blob.read(offset, length);
  }

  /** Closes the partial blob: the swarm that fills it is its one owner. */
  close(): Promise<void> {
    return this.#blob.close();
  }
}

/** Pieces of a complete, verified blob in the store. */
export class CompletePieceStorage extends CachedStorage {
  readonly complete = true;
  readonly #file: FileHandle;

  private constructor(meta: Metainfo, file: FileHandle, cacheBytes: number) {
    super(meta, cacheBytes);
    this.#file = file;
  }

  static async open(meta: Metainfo, path: string, cacheBytes = DEFAULT_CACHE_BYTES): Promise<CompletePieceStorage> {
    return new CompletePieceStorage(meta, await open(path, 'r'), cacheBytes);
  }

  hasPiece(index: number): boolean {
    return index >= 0 && index < this.meta.pieceCount;
  }

  async writePiece(): Promise<boolean> {
    return false;
  }

  protected async readRange(offset: number, length: number): Promise<Uint8Array> {
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.#file.read(buffer, done, length - done, offset + done);
      if (bytesRead === 0) throw new Error(`short read of ${this.meta.digest} at ${offset + done}`);
      done += bytesRead;
    }
    return buffer;
  }

  async close(): Promise<void> {
    await this.#file.close().catch(() => {});
  }
}
