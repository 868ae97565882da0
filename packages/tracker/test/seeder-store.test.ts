import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex } from '@shoal/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type TestTracker, eventually, startTestTracker } from './helpers/tracker.ts';

const MiB = 1 << 20;

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

describe('seeder store bounds', () => {
  let t: TestTracker | undefined;
  afterEach(async () => {
    await t?.dispose();
  });

  it('never evicts a blob it is seeding; evicts idle ones, least recently used first, with their metainfo', async () => {
    // Room for two 2 MiB blobs below the high watermark (4.5 MiB), not three.
    t = await startTestTracker({ storeCapacity: 5 * MiB, storeHighWatermark: 0.9, storeLowWatermark: 0.8, seedIdleMs: 1000 });
    const tt = t;
    const [a, b, c] = [await tt.addBlob(2 * MiB), await tt.addBlob(2 * MiB), await tt.addBlob(2 * MiB)];
    const warm = async (digest: string) => {
      expect((await tt.getJson(`/v1/metainfo/${digest}`)).status).toBe(200);
      await eventually(async () => (tt.tracker.store.has(digest as never) ? true : undefined));
    };
    await warm(a.digest);
    await warm(b.digest);

    // Both are seeding (an agent may be pulling either): the third does not fit, and says so.
    const full = await tt.getJson(`/v1/metainfo/${c.digest}`);
    expect(full.status).toBe(507);
    expect(full.body.error).toMatchObject({ code: 'STORE_FULL' });
    expect(tt.tracker.store.has(a.digest) && tt.tracker.store.has(b.digest)).toBe(true);

    // Once idle (no peer for seedIdleMs) they stop seeding and the store may reclaim them.
    await eventually(async () => ((await tt.getJson('/v1/blobs')).body.blobs.length === 0 ? true : undefined));
    const metainfoOf = (digest: string) => join(tt.storeDir, 'metainfo', `${digestHex(digest as never)}.json`);
    expect(await exists(metainfoOf(a.digest))).toBe(true);
    await warm(c.digest);
    const kept = [a, b].filter((x) => tt.tracker.store.has(x.digest));
    const evicted = [a, b].filter((x) => !tt.tracker.store.has(x.digest));
    expect(kept).toHaveLength(1);
    expect(evicted).toHaveLength(1);
    expect(await exists(metainfoOf(evicted[0]!.digest))).toBe(false);
    expect(await exists(metainfoOf(kept[0]!.digest))).toBe(true);
    expect(tt.tracker.store.usedBytes).toBeLessThanOrEqual(4.5 * MiB);

    // An evicted blob comes back from the origin when asked for again.
    await eventually(async () => ((await tt.getJson('/v1/blobs')).body.blobs.length === 0 ? true : undefined));
    await warm(evicted[0]!.digest);
  });
});
