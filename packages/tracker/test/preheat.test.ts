import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type TestTracker, eventually, startTestTracker } from './helpers/tracker.ts';

const MiB = 1 << 20;

describe('preheat API', () => {
  let t: TestTracker;
  beforeEach(async () => {
    t = await startTestTracker();
  });
  afterEach(async () => {
    await t.dispose();
  });

  const post = (body: unknown) =>
    t.getJson('/v1/preheat', { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });

  it('warms blobs named by digest and shows each one seeding, with its size and bytes', async () => {
    const a = await t.addBlob(3 * MiB + 5);
    const b = await t.addBlob(1 * MiB);
    const created = await post({ blobs: [a.digest, { digest: b.digest }, a.digest] });
    expect(created.status).toBe(202);
    expect(created.headers.get('location')).toBe(`/v1/preheat/${created.body.id}`);
    expect(created.body.blobs.map((x: { digest: string }) => x.digest)).toEqual([a.digest, b.digest]);
    const done = await eventually(async () => {
      const { body } = await t.getJson(`/v1/preheat/${created.body.id}`);
      return body.state === 'running' ? undefined : body;
    });
    expect(done).toMatchObject({ state: 'done', totalBytes: 4 * MiB + 5, warmBytes: 4 * MiB + 5, counts: { seeding: 2, failed: 0 } });
    expect(done.blobs[0]).toMatchObject({ digest: a.digest, size: 3 * MiB + 5, bytes: 3 * MiB + 5, state: 'seeding' });
    // Warmed means in the seeder's store, verified.
    expect(t.tracker.store.has(a.digest) && t.tracker.store.has(b.digest)).toBe(true);
    const list = await t.getJson('/v1/preheat');
    expect(list.body.jobs).toEqual([expect.objectContaining({ id: created.body.id, state: 'done', blobs: 2 })]);
  });

  it('fails a job whose blob no origin has, saying which and why, and warms the others', async () => {
    const a = await t.addBlob(1 * MiB);
    const missing = `sha256:${'e'.repeat(64)}`;
    const created = await post({ blobs: [missing, a.digest] });
    const done = await eventually(async () => {
      const { body } = await t.getJson(`/v1/preheat/${created.body.id}`);
      return body.state === 'running' ? undefined : body;
    });
    expect(done.state).toBe('failed');
    expect(done.blobs[0]).toMatchObject({ digest: missing, state: 'failed', error: { code: 'BLOB_UNKNOWN' } });
    expect(done.blobs[1]).toMatchObject({ digest: a.digest, state: 'seeding' });
  });

  it('answers malformed requests with a 400 that says what is wrong, and unknown jobs with a 404', async () => {
    expect(await post('{not json')).toMatchObject({ status: 400, body: { error: { message: 'the preheat request is not JSON' } } });
    expect((await post({})).body.error.message).toMatch(/names nothing/);
    expect((await post({ blobs: ['sha256:xyz'] })).body.error.message).toBe('blobs[0] is not a sha256 digest');
    expect((await post({ blobs: [{ digest: `sha256:${'a'.repeat(64)}`, url: 'file:///etc/passwd' }] })).body.error.message).toBe(
      'blobs[0].url must be an http(s) URL',
    );
    expect((await post({ image: 'UPPER/case' })).status).toBe(400);
    expect((await post({ platform: 'linux/amd64', blobs: [`sha256:${'a'.repeat(64)}`] })).body.error.message).toMatch(/applies to an "image" only/);
    expect((await post({ images: [] })).body.error.message).toMatch(/unknown field "images"/);
    expect((await t.getJson('/v1/preheat/0123456789abcdef')).status).toBe(404);
    expect((await t.getJson('/v1/preheat/not-a-job')).status).toBe(404);
    expect((await t.getJson('/v1/preheat', { method: 'DELETE' })).status).toBe(405);
  });
});
