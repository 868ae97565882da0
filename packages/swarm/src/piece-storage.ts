import { open, type FileHandle } from 'node:fs/promises';
import type { Metainfo, PartialBlob } from '@shoal/core';
import { BlockPool } from './block-pool.ts';
import { BLOCK_LENGTH } from './wire.ts';

/**
 * Buffers for blocks read from disk to be uploaded; a connection gives each back once its
 * socket has written it (see PeerConnection).
 */
export const uploadBlocks = new BlockPool(BLOCK_LENGTH, 64);

/**
 * Where a swarm reads the pieces it uploads and writes the pieces it downloads: a partial
 * blob being filled, or a complete blob in the store. Pieces this node just stored stay in a
 * small memory cache, so a fresh piece sent on to several peers (common right after it
 * arrived) is not read back from disk; other blocks are read from disk one by one. Every
 * block handed out is a copy in a buffer of `uploadBlocks`, so the cache's piece buffers are
 * reused for new pieces once evicted: a downloading agent allocates no new memory per piece.
 */
export interface PieceStorage {
  readonly complete: boolean;
  hasPiece(index: number): boolean;
  /** Reads part of a stored piece, into a buffer of its own. */
  readBlock(index: number, offset: number, length: number): Promise<Uint8Array>;
  /**
   * A buffer to assemble a piece of `size` bytes in, to be passed to writePiece once every
   * byte is in (or dropped, if the download is abandoned).
   */
  pieceBuffer(size: number): Buffer;
  /**
   * Verifies and stores a piece (see PartialBlob.writePiece); complete storage stores
   * nothing. Takes `bytes` over: the caller must not touch them afterwards.
   */
  writePiece(index: number, bytes: Uint8Array): Promise<boolean>;
  /** Keeps a piece that was just written in the cache. */
  remember(index: number, bytes: Uint8Array): void;
  close(): Promise<void>;
}

class PieceCache {
  readonly #pieces = new Map<number, Uint8Array>();
  #bytes = 0;
  readonly #limit: number;
  readonly #evicted: (piece: Uint8Array) => void;

  /** @param evicted called with each piece that leaves the cache (or is not taken in) */
  constructor(limit: number, evicted: (piece: Uint8Array) => void) {
    this.#limit = limit;
    this.#evicted = evicted;
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
    if (piece.length > this.#limit || this.#pieces.has(index)) {
      this.#evicted(piece);
      return;
    }
    this.#pieces.set(index, piece);
    this.#bytes += piece.length;
    for (const [oldest, bytes] of this.#pieces) {
      if (this.#bytes <= this.#limit) break;
      this.#pieces.delete(oldest);
      this.#bytes -= bytes.length;
      this.#evicted(bytes);
    }
  }
}

/**
 * Pieces kept in memory after they are stored. Peers ask for a fresh piece within moments of
 * its have; later asks read it back from the page cache. Every cached byte is memory the
 * agent touches, and touching memory is not free: with 64 MiB, a 16-agent rollout here took
 * 1.87-2.02x of ideal at 4.95 CPU-s per GiB moved; with 16 MiB, 1.70x at 4.33.
 */
const DEFAULT_CACHE_BYTES = 16 << 20;
/** Bytes of free piece buffers a storage keeps for the next pieces. */
const FREE_PIECE_BUFFER_BYTES = 64 << 20;

abstract class CachedStorage implements PieceStorage {
  abstract readonly complete: boolean;
  protected readonly meta: Metainfo;
  readonly #cache: PieceCache;
  /** Piece buffers back from the cache, for the next pieces to assemble. */
  readonly #pieceBuffers: BlockPool;

  constructor(meta: Metainfo, cacheBytes: number) {
    this.meta = meta;
    // Enough free buffers to cover the swing in pieces under way (in flight from ten peers,
    // waiting for the disk): a buffer dropped here is a fresh allocation later, and touching
    // fresh memory costs more than the bytes kept (a 16-agent rollout here: 2.02x -> 1.87x of
    // ideal with 64 free 1 MiB pieces instead of 4).
    this.#pieceBuffers = new BlockPool(meta.pieceLength, Math.max(4, Math.floor(FREE_PIECE_BUFFER_BYTES / meta.pieceLength)));
    this.#cache = new PieceCache(cacheBytes, (piece) => this.#pieceBuffers.release(piece));
  }

  pieceBuffer(size: number): Buffer {
    return this.#pieceBuffers.acquire(size);
  }

  /** Gives back a piece buffer that was not kept (nothing else may hold it). */
  protected dropPiece(bytes: Uint8Array): void {
    this.#pieceBuffers.release(bytes);
  }

  abstract hasPiece(index: number): boolean;
  abstract writePiece(index: number, bytes: Uint8Array): Promise<boolean>;
  abstract close(): Promise<void>;
  /** Reads `into.length` stored bytes at `offset` of the blob into `into`. */
  protected abstract readRange(offset: number, into: Buffer): Promise<void>;

  remember(index: number, bytes: Uint8Array): void {
    this.#cache.set(index, bytes);
  }

  async readBlock(index: number, offset: number, length: number): Promise<Uint8Array> {
    const block = uploadBlocks.acquire(length);
    const piece = this.#cache.get(index);
    if (piece) {
      // A copy: the piece buffer is reused once evicted, while the block may sit in a socket.
      block.set(piece.subarray(offset, offset + length));
      return block;
    }
    // Only the block: a seeder sends most pieces once (super-seeding), so reading whole
    // pieces ahead would mostly churn memory.
    try {
      await this.readRange(this.meta.pieceOffset(index) + offset, block);
      return block;
    } catch (err) {
      uploadBlocks.release(block);
      throw err;
    }
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
    let stored = false;
    try {
      stored = await this.#blob.writePiece(index, bytes);
      return stored;
    } finally {
      // The write is done (or never started): the cache is the buffer's only holder now.
      if (stored) this.remember(index, bytes);
      else this.dropPiece(bytes);
    }
  }

  protected async readRange(offset: number, into: Buffer): Promise<void> {
    await this.#blob.read(offset, into.length, into);
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

  async writePiece(_index: number, bytes: Uint8Array): Promise<boolean> {
    this.dropPiece(bytes);
    return false;
  }

  protected async readRange(offset: number, into: Buffer): Promise<void> {
    for (let done = 0; done < into.length; ) {
      const { bytesRead } = await this.#file.read(into, done, into.length - done, offset + done);
      if (bytesRead === 0) throw new Error(`short read of ${this.meta.digest} at ${offset + done}`);
      done += bytesRead;
    }
  }

  async close(): Promise<void> {
    await this.#file.close().catch(() => {});
  }
}
