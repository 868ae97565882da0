import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Digest, silentLogger } from '@shoal/core';
import { DirectoryOrigin } from '@shoal/origin';
import { Tracker, type TrackerOptions } from '../../src/index.ts';

/** A tracker on loopback (port 0) over a directory origin, with its own temp dirs. */
export interface TestTracker {
  tracker: Tracker;
  url: string;
  originDir: string;
  storeDir: string;
  /** Writes random bytes named by their digest into the origin directory. */
  addBlob(size: number): Promise<{ digest: Digest; bytes: Buffer }>;
  getJson(path: string, init?: RequestInit): Promise<{ status: number; body: any; headers: Headers }>;
  dispose(): Promise<void>;
}

export async function startTestTracker(options: Partial<TrackerOptions> = {}): Promise<TestTracker> {
  const root = await mkdtemp(join(tmpdir(), 'shoal-tracker-test-'));
  const originDir = join(root, 'origin');
  const storeDir = join(root, 'store');
  await mkdir(originDir);
  const tracker = new Tracker({
    host: '127.0.0.1',
    port: 0,
    peerHost: '127.0.0.1',
    peerPort: 0,
    advertiseHost: '127.0.0.1',
    storeDir,
    origins: [new DirectoryOrigin({ root: originDir })],
    logger: silentLogger(),
    ...options,
  });
  await tracker.start();
  const url = tracker.url;
  return {
    tracker,
    url,
    originDir,
    storeDir,
    async addBlob(size) {
      const bytes = randomBytes(size);
      const hex = createHash('sha256').update(bytes).digest('hex');
      await writeFile(join(originDir, hex), bytes);
      return { digest: `sha256:${hex}` as Digest, bytes };
    },
    async getJson(path, init) {
      const response = await fetch(`${url}${path}`, init);
      const text = await response.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {}
      return { status: response.status, body, headers: response.headers };
    },
    async dispose() {
      await tracker.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Polls until `probe` returns a value, or fails after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
