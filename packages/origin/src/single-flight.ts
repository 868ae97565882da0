/**
 * Runs one call per key at a time: callers asking for a key that is already in flight share
 * its promise. The seeder wraps its blob fetches in one (an origin serves about one copy);
 * the registry client wraps token requests (eight parallel ranges that all meet a 401 need
 * one token, not eight).
 *
 * A settled call is forgotten at once, so a failure is not cached: the next caller tries again.
 */
export class SingleFlight<K, V> {
  readonly #inFlight = new Map<K, Promise<V>>();

  /** The running call for `key`, or a new one from `fn`. */
  run(key: K, fn: () => Promise<V>): Promise<V> {
    const running = this.#inFlight.get(key);
    if (running) return running;
    // Deferred by a microtask so that even a synchronous throw in `fn` lands after `set`.
    const promise: Promise<V> = Promise.resolve()
      .then(fn)
      .finally(() => {
        if (this.#inFlight.get(key) === promise) this.#inFlight.delete(key);
      });
    this.#inFlight.set(key, promise);
    return promise;
  }

  /** Whether a call for `key` is running. */
  has(key: K): boolean {
    return this.#inFlight.has(key);
  }

  /** Number of calls running. */
  get size(): number {
    return this.#inFlight.size;
  }
}
