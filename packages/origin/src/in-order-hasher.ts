import { type Hash, createHash } from 'node:crypto';
import { ErrorCode, ShoalError, pieceCountOf } from '@shoal/core';

/** Options of an {@link InOrderHasher}. */
export interface InOrderHasherOptions {
  size: number;
  pieceLength: number;
  /**
   * Bytes of out-of-order pieces kept in memory until the hash reaches them. With `readPiece`
   * a piece that does not fit is dropped and read back later; without it the caller must
   * not hand over more than this (the fetcher's window guarantees it).
   */
  maxHeldBytes: number;
  /** Reads back a piece the caller has stored (for pieces dropped to stay within `maxHeldBytes`). */
  readPiece?: ((index: number) => Promise<Uint8Array>) | undefined;
}

/**
 * The sha256 of a whole blob whose pieces arrive in any order. sha256 cannot be computed out
 * of order or merged, so pieces are hashed as the contiguous prefix grows: a piece that
 * arrives early is held (or, past the memory budget, dropped and re-read through
 * `readPiece`) until every piece before it is in. Uses node:crypto (~2 GB/s a core); never a
 * JS sha256 on this path.
 */
export class InOrderHasher {
  readonly pieceCount: number;
  readonly #pieceLength: number;
  readonly #size: number;
  readonly #maxHeld: number;
  readonly #readPiece: InOrderHasherOptions['readPiece'];
  readonly #hash: Hash = createHash('sha256');
  /** Pieces past the cursor: their bytes, or null when dropped (to be re-read). */
  readonly #held = new Map<number, Buffer | Uint8Array | null>();
  #next = 0;
  #hashedBytes = 0;
  #heldBytes = 0;
  #peakHeldBytes = 0;
  #rereadBytes = 0;
  #reading = false;
  #failure: unknown;
  #waiters = new Set<() => void>();
  readonly #done: Promise<string>;
  #resolveDone!: (hex: string) => void;
  #rejectDone!: (err: unknown) => void;

  constructor(options: InOrderHasherOptions) {
    this.#size = options.size;
    this.#pieceLength = options.pieceLength;
    this.#maxHeld = options.maxHeldBytes;
    this.#readPiece = options.readPiece;
    this.pieceCount = pieceCountOf(options.size, options.pieceLength);
    this.#done = new Promise((resolve, reject) => {
      this.#resolveDone = resolve;
      this.#rejectDone = reject;
    });
    // finish() may never be awaited when the fetch fails elsewhere first.
    this.#done.catch(() => {});
    if (this.pieceCount === 0) this.#resolveDone(this.#hash.digest('hex'));
  }

  /** Bytes hashed so far: the contiguous prefix [0, hashedBytes). */
  get hashedBytes(): number {
    return this.#hashedBytes;
  }

  /** Bytes of out-of-order pieces held in memory now. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** The most bytes held at once. */
  get peakHeldBytes(): number {
    return this.#peakHeldBytes;
  }

  /** Bytes read back through `readPiece`. */
  get rereadBytes(): number {
    return this.#rereadBytes;
  }

  #expectedLength(index: number): number {
    return Math.min(this.#pieceLength, this.#size - index * this.#pieceLength);
  }

  /**
   * Hands over a complete piece. The hasher keeps a reference (no copy) until it has hashed
   * it, so the caller must not modify it. Each piece exactly once.
   */
  add(index: number, piece: Buffer | Uint8Array): void {
    if (this.#failure !== undefined) return;
    if (!Number.isInteger(index) || index < this.#next || index >= this.pieceCount || this.#held.has(index)) {
      throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `piece ${index} handed to the blob hasher twice or out of range`);
    }
    if (piece.length !== this.#expectedLength(index)) {
      throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `piece ${index} has ${piece.length} bytes, expected ${this.#expectedLength(index)}`);
    }
    if (index === this.#next && !this.#reading) {
      this.#update(piece);
    } else if (this.#readPiece && this.#heldBytes + piece.length > this.#maxHeld) {
      this.#held.set(index, null);
    } else {
      this.#held.set(index, piece);
      this.#heldBytes += piece.length;
      if (this.#heldBytes > this.#peakHeldBytes) this.#peakHeldBytes = this.#heldBytes;
    }
    this.#pump();
  }

  #update(piece: Buffer | Uint8Array): void {
    this.#hash.update(piece);
    this.#next++;
    this.#hashedBytes += piece.length;
    if (this.#next === this.pieceCount) this.#resolveDone(this.#hash.digest('hex'));
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  /** Hashes every held piece that now continues the prefix; re-reads dropped ones one at a time. */
  #pump(): void {
    while (!this.#reading && this.#failure === undefined) {
      const held = this.#held.get(this.#next);
      if (held === undefined) return;
      if (held === null) {
        this.#reread(this.#next);
        return;
      }
      this.#held.delete(this.#next);
      this.#heldBytes -= held.length;
      this.#update(held);
    }
  }

  #reread(index: number): void {
    this.#reading = true;
    const read = this.#readPiece!;
    Promise.resolve()
      .then(() => read(index))
      .then(
        (bytes) => {
          this.#reading = false;
          if (bytes.length !== this.#expectedLength(index)) {
            throw new ShoalError(ErrorCode.STORE_CORRUPT, `readPiece(${index}) returned ${bytes.length} bytes, expected ${this.#expectedLength(index)}`);
          }
          this.#held.delete(index);
          this.#rereadBytes += bytes.length;
          this.#update(bytes);
          this.#pump();
        },
        (err: unknown) => {
          this.#reading = false;
          throw err;
        },
      )
      .catch((err: unknown) => this.fail(err));
  }

  /** Resolves when the hashed prefix grows (or the hasher fails). */
  waitForProgress(): Promise<void> {
    if (this.#failure !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.add(resolve));
  }

  /** Stops hashing: `finish()` rejects with `err`, waiters wake up, held pieces are released. */
  fail(err: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = err;
    this.#held.clear();
    this.#heldBytes = 0;
    this.#rejectDone(err);
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  /** The hex sha256 of the blob, once every piece has been added and hashed. */
  finish(): Promise<string> {
    return this.#done;
  }
}
