/**
 * Worker side of the off-thread blob hash (see InOrderHasher): receives a blob's pieces in
 * order and feeds them to one sha256, so that hashing (about a core-second per GiB here)
 * does not compete with receiving on the fetch's event loop. A piece's ArrayBuffer is
 * transferred here (no copy) and transferred back once hashed, for the fetch to reuse.
 * (SharedArrayBuffers were tried: copying received bytes into shared memory ran ~4x slower.)
 * Imports node builtins only: it runs outside any bundler or test runner.
 */
import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

type Message =
  | { type: 'piece'; buffer: ArrayBuffer; offset: number; length: number }
  | { type: 'bytes'; bytes: Uint8Array }
  | { type: 'finish' };

const port = parentPort;
if (!port) throw new Error('hash-worker.ts runs as a worker thread');
const hash = createHash('sha256');
port.on('message', (message: Message) => {
  switch (message.type) {
    case 'piece':
      hash.update(new Uint8Array(message.buffer, message.offset, message.length));
      port.postMessage({ type: 'hashed', buffer: message.buffer }, [message.buffer]);
      break;
    case 'bytes':
      hash.update(message.bytes);
      port.postMessage({ type: 'hashed' });
      break;
    case 'finish':
      port.postMessage({ type: 'digest', hex: hash.digest('hex') });
      break;
  }
});
