import { createHash, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { constants } from 'node:fs';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import BitField from 'bitfield';
import { digestHex } from '../digest.ts';
import { ErrorCode, ShoalError, errorMessage } from '../errors.ts';
import type { Metainfo } from '../metainfo.ts';
import { BlobHasher } from './blob-hasher.ts';

export interface PartialBlobPaths {
  /** The data file, pre-sized, pieces written at their offsets. */
  data: string;
  /** One byte per piece: 1 once the piece is verified and written. */
  pieces: string;
  /** Where the verified blob is published (atomic rename). */
  complete: string;
}

export type PartialBlobState = 'writing' | 'complete' | 'failed';

/** Bytes of new prefix worth waking the whole-blob hasher for. */
const HASHER_STEP = 16 << 20;

/**
 * A blob being filled piece by piece, on disk from the first piece.
 *
 * Invariants: a piece is written only after its sha256 matched the metainfo, and its byte in
 * the pieces file is set only after its data write returned, so a restarted process resumes
 * from the pieces file. The blob is published (renamed into place) only after the sha256 of
 * all its bytes equals the digest. Readers may read any piece that `hasPiece` reports, while
 * other pieces are still arriving.
 *
 * Events: 'piece' (index) after a piece is stored; 'complete' (path); 'failed' (error);
 * 'close'.
 */
export class PartialBlob extends EventEmitter {
  readonly meta: Metainfo;
  readonly paths: PartialBlobPaths;
  readonly have: BitField;
  #haveCount = 0;
  /** Pieces being written right now (a duplicate arriving meanwhile is dropped). */
  readonly #writing = new Set<number>();
  /** Number of leading pieces stored: the whole-blob hasher may read this far. */
  #prefix = 0;
  /** How far the whole-blob hasher has been told it may read. */
  #hasherAt = 0;
  #state: PartialBlobState = 'writing';
  #failure: Error | undefined;
  readonly #data: FileHandle;
  readonly #pieces: FileHandle;
  readonly #hasher: BlobHasher;
  #completion: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  private constructor(meta: Metainfo, paths: PartialBlobPaths, data: FileHandle, pieces: FileHandle, have: BitField) {
    super();
    this.setMaxListeners(0);
    this.meta = meta;
    this.paths = paths;
    this.#data = data;
    this.#pieces = pieces;
    this.have = have;
    for (let i = 0; i < meta.pieceCount; i++) if (have.get(i)) this.#haveCount++;
    this.#hasher = new BlobHasher(paths.data);
    this.#advancePrefix();
  }

  /**
   * Opens or creates the partial files for a blob. With `trustClaims` false (the previous
   * process did not stop cleanly), every piece the pieces file claims is read back and
   * checked against its hash; pieces that fail, or whose hash is not known yet, are dropped.
   */
  static async open(meta: Metainfo, paths: PartialBlobPaths, trustClaims: boolean): Promise<PartialBlob> {
    const data = await open(paths.data, constants.O_RDWR | constants.O_CREAT);
    let pieces: FileHandle | undefined;
    try {
      const stat = await data.stat();
      if (stat.size !== meta.size) {
        // New file, or one left by a different layout: start over.
        await data.truncate(0);
        await data.truncate(meta.size);
        await rm(paths.pieces, { force: true });
      }
      pieces = await open(paths.pieces, constants.O_RDWR | constants.O_CREAT);
      const claims = Buffer.alloc(meta.pieceCount);
      const { bytesRead } = await pieces.read(claims, 0, claims.length, 0);
      if (bytesRead < claims.length) await pieces.truncate(meta.pieceCount);
      const have = new BitField(meta.pieceCount);
      const buffer = trustClaims ? undefined : Buffer.allocUnsafe(meta.pieceLength);
      for (let i = 0; i < meta.pieceCount; i++) {
        if (claims[i] !== 1) continue;
        if (buffer) {
          const size = meta.pieceSize(i);
          await data.read(buffer, 0, size, meta.pieceOffset(i));
          const expected = meta.pieceHash(i);
          if (!expected || !hashEquals(buffer.subarray(0, size), expected)) {
            await pieces.write(Buffer.of(0), 0, 1, i);
            continue;
          }
        }
        have.set(i, true);
      }
      return new PartialBlob(meta, paths, data, pieces, have);
    } catch (err) {
      await data.close().catch(() => {});
      await pieces?.close().catch(() => {});
      throw new ShoalError(ErrorCode.STORE_CORRUPT, `cannot open partial blob ${meta.digest}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  get state(): PartialBlobState {
    return this.#state;
  }

  get haveCount(): number {
    return this.#haveCount;
  }

  get bytesHave(): number {
    let bytes = this.#haveCount * this.meta.pieceLength;
    const last = this.meta.pieceCount - 1;
    if (last >= 0 && this.have.get(last)) bytes -= this.meta.pieceLength - this.meta.pieceSize(last);
    return bytes;
  }

  hasPiece(index: number): boolean {
    return this.have.get(index);
  }

  /**
   * Verifies a piece against the metainfo and stores it. Resolves true when stored, false
   * when it was already stored (or being stored). Throws PIECE_MISMATCH for wrong bytes
   * (nothing is written) and STORE_FULL / STORE_CORRUPT when the disk fails.
   */
  async writePiece(index: number, bytes: Uint8Array): Promise<boolean> {
    if (this.#state === 'failed') throw this.#failure!;
    const size = this.meta.pieceSize(index);
    if (this.have.get(index) || this.#writing.has(index)) return false;
    const expected = this.meta.pieceHash(index);
    if (!expected) {
      throw new ShoalError(ErrorCode.PIECE_MISMATCH, `piece ${index} of ${this.meta.digest} has no known hash yet`);
    }
    if (bytes.length !== size || !hashEquals(bytes, expected)) {
      throw new ShoalError(ErrorCode.PIECE_MISMATCH, `piece ${index} of ${this.meta.digest} does not match its sha256`);
    }
    return this.#store(index, bytes);
  }

  /**
   * Stores a piece whose sha256 the caller has just computed from these very bytes (`hash`),
   * without hashing them again: the seeder, which derives piece hashes from the origin's
   * bytes, and an agent's fetch from the origin. `hash` must equal the
   * metainfo's hash of the piece (PIECE_MISMATCH otherwise, nothing written). The whole blob
   * is still checked against its digest before it is published.
   */
  async writeHashedPiece(index: number, bytes: Uint8Array, hash: Uint8Array): Promise<boolean> {
    if (this.#state === 'failed') throw this.#failure!;
    const size = this.meta.pieceSize(index);
    if (this.have.get(index) || this.#writing.has(index)) return false;
    const expected = this.meta.pieceHash(index);
    if (!expected || bytes.length !== size || hash.length !== expected.length || !timingSafeEqual(hash, expected)) {
      throw new ShoalError(ErrorCode.PIECE_MISMATCH, `piece ${index} of ${this.meta.digest} does not match its sha256`);
    }
    return this.#store(index, bytes);
  }

  async #store(index: number, bytes: Uint8Array): Promise<boolean> {
    const size = this.meta.pieceSize(index);
    this.#writing.add(index);
    try {
      await this.#data.write(bytes, 0, size, this.meta.pieceOffset(index));
      await this.#pieces.write(Buffer.of(1), 0, 1, index);
    } catch (err) {
      this.#writing.delete(index);
      const code = (err as NodeJS.ErrnoException).code === 'ENOSPC' ? ErrorCode.STORE_FULL : ErrorCode.STORE_CORRUPT;
      throw new ShoalError(code, `cannot write piece ${index} of ${this.meta.digest}: ${errorMessage(err)}`, { cause: err });
    }
    this.#writing.delete(index);
    if (this.#state !== 'writing') return false;
    this.have.set(index, true);
    this.#haveCount++;
    this.#advancePrefix();
    this.emit('piece', index);
    if (this.#haveCount === this.meta.pieceCount) void this.#complete();
    return true;
  }

  /**
   * Reads bytes of stored pieces (the caller checked `hasPiece` for every piece touched),
   * into `into` when given (exactly `length` bytes long).
   */
  async read(offset: number, length: number, into?: Buffer): Promise<Buffer> {
    const buffer = into ?? Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.#data.read(buffer, done, length - done, offset + done);
      if (bytesRead === 0) throw new ShoalError(ErrorCode.STORE_CORRUPT, `short read of ${this.meta.digest}`);
      done += bytesRead;
    }
    return buffer;
  }

  /** Resolves when the piece is stored; rejects if the blob fails or `signal` aborts. */
  waitForPiece(index: number, signal?: AbortSignal): Promise<void> {
    if (this.have.get(index)) return Promise.resolve();
    if (this.#state === 'failed') return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const onPiece = (i: number): void => {
        if (i === index) finish();
      };
      const onFailed = (err: Error): void => finish(err);
      const onAbort = (): void => finish(new ShoalError(ErrorCode.ABORTED, 'reader went away'));
      const finish = (err?: Error): void => {
        this.off('piece', onPiece);
        this.off('failed', onFailed);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      this.on('piece', onPiece);
      this.on('failed', onFailed);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Resolves once the blob is verified and published; rejects if it fails. */
  whenComplete(): Promise<void> {
    if (this.#state === 'complete') return Promise.resolve();
    if (this.#state === 'failed') return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.once('complete', () => resolve());
      this.once('failed', reject);
    });
  }

  /** Marks the blob failed (download abandoned or disk error) and wakes every waiter. */
  fail(err: Error): void {
    if (this.#state !== 'writing') return;
    this.#state = 'failed';
    this.#failure = err;
    this.#hasher.abort();
    this.emit('failed', err);
  }

  /** Closes the files (once). Partial data stays on disk for a later resume. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#state === 'writing') this.#hasher.abort();
      await this.#completion?.catch(() => {});
      await this.#data.close().catch(() => {});
      await this.#pieces.close().catch(() => {});
      this.emit('close');
    })();
    return this.#closing;
  }

  /** Removes the partial files (after a failure, or when evicting). */
  async discard(): Promise<void> {
    await this.close();
    await rm(this.paths.data, { force: true });
    await rm(this.paths.pieces, { force: true });
  }

  #advancePrefix(): void {
    while (this.#prefix < this.meta.pieceCount && this.have.get(this.#prefix)) this.#prefix++;
    const upTo = Math.min(this.meta.size, this.#prefix * this.meta.pieceLength);
    // Wake the hasher for 16 MiB at a time, not for every piece: each message wakes its
    // thread, which then competes with this one for a core. finish() hashes whatever is left.
    if (upTo - this.#hasherAt >= HASHER_STEP) {
      this.#hasher.advance(upTo);
      this.#hasherAt = upTo;
    }
  }

  #complete(): Promise<void> {
    this.#completion ??= (async () => {
      try {
        const hex = await this.#hasher.finish(this.meta.size);
        if (hex !== digestHex(this.meta.digest)) {
          throw new ShoalError(
            ErrorCode.DIGEST_MISMATCH,
            `blob assembled from verified pieces hashes to sha256:${hex}, not ${this.meta.digest}: the piece hashes are wrong`,
            { details: { digest: this.meta.digest, actual: `sha256:${hex}` } },
          );
        }
        await this.#data.sync();
        await rename(this.paths.data, this.paths.complete);
        await rm(this.paths.pieces, { force: true });
        this.#state = 'complete';
        this.emit('complete', this.paths.complete);
      } catch (err) {
        const error = err instanceof ShoalError ? err : new ShoalError(ErrorCode.STORE_CORRUPT, errorMessage(err), { cause: err });
        // Files first, so that whoever learns of the failure finds nothing of the blob left.
        await rm(this.paths.data, { force: true }).catch(() => {});
        await rm(this.paths.pieces, { force: true }).catch(() => {});
        this.fail(error);
      }
    })();
    return this.#completion;
  }
}

function hashEquals(bytes: Uint8Array, expected: Uint8Array): boolean {
  const actual = createHash('sha256').update(bytes).digest();
  return timingSafeEqual(actual, expected);
}
