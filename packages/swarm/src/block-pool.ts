/**
 * Reusable buffers for blocks read from disk to be uploaded.
 *
 * A seeder reads every block it sends from disk: one fresh 256 KiB buffer per block is a GiB
 * of short-lived external memory per GiB sent, and V8 answers external memory growth with
 * full mark-compact collections (measured: half of a seeder's CPU while it served one agent
 * at full speed). Buffers come back here once the socket has written them.
 *
 * A buffer is reused only after `release`, and `release` counts once per `acquire`: a block
 * still queued in a socket, or handed to a caller that never releases it, is never handed
 * out again (a buffer that is not released is simply left to the garbage collector).
 */
export class BlockPool {
  readonly blockLength: number;
  readonly #maxFree: number;
  readonly #free: Buffer[] = [];
  readonly #lent = new WeakSet<Uint8Array>();

  /**
   * @param blockLength the length of pooled buffers; other lengths are allocated plainly
   * @param maxFree how many free buffers to keep (the rest go to the garbage collector)
   */
  constructor(blockLength: number, maxFree: number) {
    this.blockLength = blockLength;
    this.#maxFree = maxFree;
  }

  /** A buffer of exactly `length` bytes, contents undefined. */
  acquire(length: number): Buffer {
    if (length !== this.blockLength) return Buffer.allocUnsafeSlow(length);
    const buffer = this.#free.pop() ?? Buffer.allocUnsafeSlow(length);
    this.#lent.add(buffer);
    return buffer;
  }

  /** Whether `buffer` came from `acquire` and has not been released since. */
  lent(buffer: Uint8Array): boolean {
    return this.#lent.has(buffer);
  }

  /** Gives a buffer back once nothing reads it any more; anything not lent is ignored. */
  release(buffer: Uint8Array): void {
    if (!this.#lent.delete(buffer)) return;
    if (this.#free.length < this.#maxFree) this.#free.push(buffer as Buffer);
  }

  /** Free buffers held (for tests and metrics). */
  get freeCount(): number {
    return this.#free.length;
  }
}
