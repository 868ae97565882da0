import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, silentLogger } from '@shoal/core';
import { DirectoryOrigin } from '@shoal/origin';
import { Tracker } from '@shoal/tracker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preheat, preheatBody } from '../src/index.ts';
import { trackerBase } from '../src/commands/preheat.ts';

const HEX = 'cd'.repeat(32);

describe('preheatBody', () => {
  it('takes one image and blobs by digest, with an optional URL each', () => {
    expect(preheatBody(['registry.example.com/app:1.0'], 'linux/arm64')).toEqual({ image: 'registry.example.com/app:1.0', platform: 'linux/arm64' });
    expect(preheatBody([`sha256:${HEX}`, `sha256:${HEX}=https://bucket.example/m?X-Amz-Signature=s`])).toEqual({
      blobs: [`sha256:${HEX}`, { digest: `sha256:${HEX}`, url: 'https://bucket.example/m?X-Amz-Signature=s' }],
    });
  });

  it('says what is wrong with the arguments', () => {
    expect(() => preheatBody(['a/b:1', 'c/d:2'])).toThrow(/one image per preheat/);
    expect(() => preheatBody(['sha256:abc'])).toThrow(/is not a digest/);
    expect(() => preheatBody([`sha256:${HEX}`], 'linux/amd64')).toThrow(/--platform applies to an image/);
  });

  it('reaches a tracker named as the agent names its replicas', () => {
    expect(trackerBase('dns+http://shoal-tracker:7000, http://other:7000')).toBe('http://shoal-tracker:7000');
  });
});

describe('shoal preheat against a tracker', () => {
  let root: string;
  let tracker: Tracker;
  let blob: { digest: string; size: number };
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'shoal-preheat-cli-'));
    await mkdir(join(root, 'origin'));
    const bytes = randomBytes(3 << 20);
    const hex = createHash('sha256').update(bytes).digest('hex');
    await writeFile(join(root, 'origin', hex), bytes);
    blob = { digest: `sha256:${hex}`, size: bytes.length };
    tracker = new Tracker({
      host: '127.0.0.1',
      port: 0,
      peerHost: '127.0.0.1',
      peerPort: 0,
      advertiseHost: '127.0.0.1',
      storeDir: join(root, 'store'),
      origins: [new DirectoryOrigin({ root: join(root, 'origin') })],
      logger: silentLogger(),
    });
    await tracker.start();
  });
  afterAll(async () => {
    await tracker.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('follows the job to the end, printing each blob as it is warmed', async () => {
    const lines: string[] = [];
    const job = await preheat([blob.digest], { tracker: tracker.url, print: (l) => lines.push(l), progress: false, pollMs: 50 });
    expect(job.state).toBe('done');
    expect(lines[0]).toMatch(new RegExp(`^preheat [0-9a-f]{16}: 1 blobs$`));
    expect(lines[1]).toBe(`seeding  ${blob.digest} 3.0 MiB`);
    expect(lines[2]).toMatch(/^preheated 1 blobs \(3\.0 MiB\) in \d+\.\d s$/);
    expect(tracker.store.has(blob.digest as never)).toBe(true);
  });

  it('fails naming the blobs it could not warm and why', async () => {
    const missing = `sha256:${'0'.repeat(64)}`;
    const err = await preheat([missing, blob.digest], { tracker: tracker.url, print: () => {}, progress: false, pollMs: 50 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.BLOB_UNKNOWN });
    expect((err as Error).message).toMatch(new RegExp(`1 of 2 blobs not warmed\\n  ${missing}: BLOB_UNKNOWN: `));
  });

  it('passes on the tracker refusing a request', async () => {
    await expect(preheat(['UPPER/case:1'], { tracker: tracker.url, print: () => {} })).rejects.toThrow(/tracker answered 400: invalid repository name/);
  });
});
