/**
 * A token bucket shared by everything on a node that moves bytes in one direction
 * (every peer connection's uploads, say). `rate` 0 means unlimited.
 *
 * Callers take tokens before they move bytes; the bucket may go into debt by one large
 * take, and the next taker waits until the debt is paid. Waiting callers are served in
 * order, so one busy peer cannot starve the others.
 */
export class TokenBucket {
  readonly rate: number;
  readonly burst: number;
  #tokens: number;
  #updatedAt: number;
  #queue: Array<{ bytes: number; resolve: () => void; reject: (err: unknown) => void }> = [];
  #timer: NodeJS.Timeout | undefined;

  /**
   * @param rate bytes per second; 0 or Infinity for unlimited
   * @param burst bytes that may pass at once after an idle period (default: 1/20 s of rate, at least 256 KiB)
   */
  constructor(rate: number, burst?: number) {
    if (!(rate >= 0)) throw new RangeError(`rate must be >= 0, got ${rate}`);
    this.rate = rate === Infinity ? 0 : rate;
    this.burst = burst ?? Math.max(256 * 1024, Math.floor(this.rate / 20));
    this.#tokens = this.burst;
    this.#updatedAt = performance.now();
  }

  get unlimited(): boolean {
    return this.rate === 0;
  }

  #refill(): void {
    const now = performance.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#updatedAt) / 1000) * this.rate);
    this.#updatedAt = now;
  }

  /**
   * Takes `bytes` now, possibly going into debt, and returns how many milliseconds the
   * caller should wait before moving more (0 when within budget). For paths that cannot
   * wait before acting (bytes already received), used to pause the source afterwards.
   */
  take(bytes: number): number {
    if (this.unlimited) return 0;
    this.#refill();
    this.#tokens -= bytes;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.rate) * 1000;
  }

  /** Resolves once `bytes` may move; queued behind earlier callers. */
  consume(bytes: number): Promise<void> {
    if (this.unlimited) return Promise.resolve();
    if (this.#queue.length === 0) {
      this.#refill();
      if (this.#tokens >= 0) {
        this.#tokens -= bytes;
        return Promise.resolve();
      }
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ bytes, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#timer || this.#queue.length === 0) return;
    this.#refill();
    const wait = this.#tokens >= 0 ? 0 : (-this.#tokens / this.rate) * 1000;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#refill();
      while (this.#queue.length > 0 && this.#tokens >= 0) {
        const next = this.#queue.shift()!;
        this.#tokens -= next.bytes;
        next.resolve();
      }
      this.#schedule();
    }, Math.ceil(wait));
  }

  /** Rejects every waiting caller (component stopping). */
  close(reason: unknown = new Error('rate limiter closed')): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const waiter of this.#queue.splice(0)) waiter.reject(reason);
  }
}
