// Worker side of BlobHasher: hashes a file's leading bytes as the owner reports them final.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

const CHUNK = 4 << 20;
const { path } = workerData as { path: string };
const fd = openSync(path, 'r');
const hash = createHash('sha256');
const buffer = Buffer.allocUnsafe(CHUNK);
let hashed = 0;

function hashUpTo(upTo: number): void {
  while (hashed < upTo) {
    const length = Math.min(CHUNK, upTo - hashed);
    const read = readSync(fd, buffer, 0, length, hashed);
    if (read <= 0) throw new Error(`unexpected end of file at ${hashed}`);
    hash.update(buffer.subarray(0, read));
    hashed += read;
  }
}

parentPort!.on('message', (message: { upTo: number; finish?: boolean }) => {
  try {
    hashUpTo(message.upTo);
    if (message.finish) {
      closeSync(fd);
      parentPort!.postMessage({ digestHex: hash.digest('hex') });
    }
  } catch (err) {
    parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
});
