/**
 * Reusable piece buffers for one fetch. Allocating a fresh buffer per piece cost as much as
 * hashing in the warm-rate benchmark (page faults on new memory, and garbage collections
 * driven by a GiB of external memory per GiB fetched); the window of the fetch bounds how
 * many are out at once, so a free list is all the pool needs.
 *
 * Each buffer owns its whole ArrayBuffer, so that it can be transferred to the hash worker
 * and back without a copy; `release` takes the ArrayBuffer that came back.
 */
export class PiecePool {
  readonly pieceLength: number;
  readonly #free: ArrayBuffer[] = [];
  #allocated = 0;

  constructor(pieceLength: number) {
    this.pieceLength = pieceLength;
  }

  /** A buffer of `pieceLength` bytes (contents undefined) that owns its ArrayBuffer. */
  acquire(): Buffer {
    const reused = this.#free.pop();
    if (reused) return Buffer.from(reused);
    this.#allocated++;
    return Buffer.allocUnsafeSlow(this.pieceLength);
  }

  /** Returns the ArrayBuffer of a buffer from `acquire` for reuse. */
  release(buffer: ArrayBuffer): void {
    if (buffer.byteLength === this.pieceLength) this.#free.push(buffer);
  }

  /** Buffers allocated so far (the fetch's peak piece memory is this times pieceLength). */
  get allocated(): number {
    return this.#allocated;
  }
}
