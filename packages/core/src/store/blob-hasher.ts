import { Worker } from 'node:worker_threads';

/**
 * Computes a blob's whole sha256 on a worker thread while the blob is being written.
 *
 * Pieces arrive out of order; the owner reports how many leading bytes are final on disk
 * (`advance`) and the worker reads and hashes them from the file (the page cache, in
 * practice). The main thread, which already hashes every piece once to verify it, never
 * hashes the blob a second time, and when the last piece lands only the unhashed tail is
 * left to read.
 */
export class BlobHasher {
  readonly #worker: Worker;
  readonly #done: Promise<string>;
  #finished = false;

  constructor(path: string) {
    this.#worker = new Worker(new URL('./blob-hasher-worker.ts', import.meta.url), { workerData: { path } });
    this.#worker.unref();
    this.#done = new Promise((resolve, reject) => {
      this.#worker.once('message', (message: { digestHex?: string; error?: string }) => {
        if (message.digestHex) resolve(message.digestHex);
        else reject(new Error(message.error ?? 'blob hasher failed'));
      });
      this.#worker.once('error', reject);
      this.#worker.once('exit', (code) => reject(new Error(`blob hasher exited with code ${code}`)));
    });
    // The owner may abandon the hasher (download cancelled); never leave a rejection unhandled.
    this.#done.catch(() => {});
  }

  /** Bytes [0, upTo) are written and final. */
  advance(upTo: number): void {
    if (!this.#finished) this.#worker.postMessage({ upTo });
  }

  /** Hashes up to `size` and returns the hex sha256 of the whole blob. */
  async finish(size: number): Promise<string> {
    this.#finished = true;
    this.#worker.postMessage({ upTo: size, finish: true });
    try {
      return await this.#done;
    } finally {
      void this.#worker.terminate();
    }
  }

  abort(): void {
    this.#finished = true;
    void this.#worker.terminate();
  }
}
