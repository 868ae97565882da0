import { type Hash, createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { ErrorCode, ShoalError, pieceCountOf } from '@shoal/core';

/** Where the blob's sha256 runs: on the caller's thread, or on a worker thread of its own. */
export type HashThread = 'main' | 'worker';

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
  /** 'worker' hashes on a worker thread (recyclable pieces are transferred, not copied). Default 'main'. */
  thread?: HashThread;
}

interface HeldPiece {
  bytes: Uint8Array;
  /** Its length, kept because a transferred buffer's views read as empty. */
  length: number;
  recycle: ((buffer: ArrayBuffer) => void) | undefined;
}

/**
 * The sha256 of a whole blob whose pieces arrive in any order. sha256 cannot be computed out
 * of order or merged, so pieces are hashed as the contiguous prefix grows: a piece that
 * arrives early is held (or, past the memory budget, dropped and re-read through
 * `readPiece`) until every piece before it is in. Uses node:crypto (SHA-NI where the CPU has
 * it), never a JS sha256, on this path.
 *
 * `hashedBytes` counts bytes whose hashing is done; each piece's `recycle` callback gets its
 * ArrayBuffer back then, so that it can be reused.
 */
export class InOrderHasher {
  readonly pieceCount: number;
  readonly #pieceLength: number;
  readonly #size: number;
  readonly #maxHeld: number;
  readonly #readPiece: InOrderHasherOptions['readPiece'];
  readonly #hash: Hash | undefined;
  readonly #worker: Worker | undefined;
  /** Pieces past the cursor: their bytes, or null when dropped (to be re-read). */
  readonly #held = new Map<number, HeldPiece | null>();
  /** Pieces sent to the worker, oldest first, awaiting its acknowledgement. */
  readonly #posted: HeldPiece[] = [];
  /** The next piece to hash (or send to the worker). */
  #next = 0;
  #hashedBytes = 0;
  /** Bytes of out-of-order pieces in `#held`. */
  #waitingBytes = 0;
  /** Bytes posted to the worker and not acknowledged yet. */
  #postedBytes = 0;
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
    if (options.thread === 'worker' && this.pieceCount > 0) {
      this.#worker = new Worker(new URL('./hash-worker.ts', import.meta.url));
      this.#worker.unref();
      this.#worker.on('message', (message: { type: string; hex?: string; buffer?: ArrayBuffer }) => this.#onWorkerMessage(message));
      this.#worker.on('error', (err) => this.fail(err));
      this.#worker.on('exit', (code) => {
        if (this.#hashedBytes < this.#size) this.fail(new Error(`blob hash worker exited with code ${code}`));
      });
    } else {
      this.#hash = createHash('sha256');
      if (this.pieceCount === 0) this.#resolveDone(this.#hash.digest('hex'));
    }
  }

  /** Bytes hashed so far: the contiguous prefix [0, hashedBytes). */
  get hashedBytes(): number {
    return this.#hashedBytes;
  }

  /** Bytes handed over and not hashed yet: held out of order, or queued for the worker. */
  get heldBytes(): number {
    return this.#waitingBytes + this.#postedBytes;
  }

  #notePeak(): void {
    const held = this.#waitingBytes + this.#postedBytes;
    if (held > this.#peakHeldBytes) this.#peakHeldBytes = held;
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
   * Hands over a complete piece, each exactly once. Without `recycle` the hasher keeps a
   * reference until it has hashed it; the caller must not modify the bytes meanwhile. With
   * `recycle` the hasher takes `bytes.buffer` over (the worker gets it transferred, so the
   * caller's views are detached) and gives it back through `recycle` once hashed; a piece
   * dropped to stay within the memory budget is recycled at once.
   */
  add(index: number, bytes: Uint8Array, recycle?: (buffer: ArrayBuffer) => void): void {
    const release = recycle && (() => recycle(bytes.buffer as ArrayBuffer));
    if (this.#failure !== undefined) {
      release?.();
      return;
    }
    if (!Number.isInteger(index) || index < this.#next || index >= this.pieceCount || this.#held.has(index)) {
      release?.();
      throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `piece ${index} handed to the blob hasher twice or out of range`);
    }
    if (bytes.length !== this.#expectedLength(index)) {
      release?.();
      throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `piece ${index} has ${bytes.length} bytes, expected ${this.#expectedLength(index)}`);
    }
    if (index === this.#next && !this.#reading) {
      this.#next++;
      this.#consume({ bytes, length: bytes.length, recycle });
    } else if (this.#readPiece && this.heldBytes + bytes.length > this.#maxHeld) {
      this.#held.set(index, null);
      release?.();
    } else {
      this.#held.set(index, { bytes, length: bytes.length, recycle });
      this.#waitingBytes += bytes.length;
      this.#notePeak();
    }
    this.#pump();
  }

  /** Hashes (or posts) every held piece that continues the prefix; re-reads dropped ones one at a time. */
  #pump(): void {
    while (!this.#reading && this.#failure === undefined) {
      const held = this.#held.get(this.#next);
      if (held === undefined) return;
      if (held === null) {
        this.#reread(this.#next);
        return;
      }
      this.#held.delete(this.#next);
      this.#waitingBytes -= held.length;
      this.#next++;
      this.#consume(held);
    }
  }

  /** Feeds one piece (the next in order) to the hash. */
  #consume(piece: HeldPiece): void {
    if (this.#worker) {
      this.#posted.push(piece);
      this.#postedBytes += piece.length;
      this.#notePeak();
      const { bytes } = piece;
      let transferred = false;
      if (piece.recycle && bytes.buffer instanceof ArrayBuffer) {
        const buffer = bytes.buffer;
        try {
          this.#worker.postMessage({ type: 'piece', buffer, offset: bytes.byteOffset, length: bytes.length }, [buffer]);
          transferred = true;
        } catch {
          // Not transferable (a slice of Node's shared Buffer pool, say): copy it instead.
        }
      }
      if (!transferred) {
        this.#worker.postMessage({ type: 'bytes', bytes }); // copied: re-read pieces, pooled buffers
        piece.recycle?.(bytes.buffer as ArrayBuffer);
        piece.recycle = undefined;
      }
      if (this.#next === this.pieceCount) this.#worker.postMessage({ type: 'finish' });
      return;
    }
    this.#hash!.update(piece.bytes);
    this.#hashedBytes += piece.length;
    piece.recycle?.(piece.bytes.buffer as ArrayBuffer);
    this.#wake();
    if (this.#next === this.pieceCount) this.#resolveDone(this.#hash!.digest('hex'));
  }

  /** The worker acknowledged a piece. */
  #hashed(piece: HeldPiece, buffer: ArrayBuffer | undefined): void {
    this.#postedBytes -= piece.length;
    this.#hashedBytes += piece.length;
    if (buffer) piece.recycle?.(buffer);
    this.#wake();
  }

  #wake(): void {
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  #onWorkerMessage(message: { type: string; hex?: string; buffer?: ArrayBuffer }): void {
    if (this.#failure !== undefined) return;
    if (message.type === 'hashed') {
      const piece = this.#posted.shift();
      if (piece) this.#hashed(piece, message.buffer);
    } else if (message.type === 'digest' && message.hex) {
      this.#resolveDone(message.hex);
      void this.#worker!.terminate();
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
          if (this.#failure !== undefined) return;
          if (bytes.length !== this.#expectedLength(index)) {
            throw new ShoalError(ErrorCode.STORE_CORRUPT, `readPiece(${index}) returned ${bytes.length} bytes, expected ${this.#expectedLength(index)}`);
          }
          this.#held.delete(index);
          this.#rereadBytes += bytes.length;
          this.#next++;
          this.#consume({ bytes, length: bytes.length, recycle: undefined });
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
    for (const piece of this.#held.values()) piece?.recycle?.(piece.bytes.buffer as ArrayBuffer);
    this.#held.clear();
    // Pieces posted to the worker stay referenced by it; they are not reused after a failure.
    this.#posted.length = 0;
    this.#waitingBytes = 0;
    this.#postedBytes = 0;
    this.#rejectDone(err);
    void this.#worker?.terminate();
    this.#wake();
  }

  /** The hex sha256 of the blob, once every piece has been added and hashed. */
  finish(): Promise<string> {
    return this.#done;
  }
}
