/**
 * The seeder warming from a real S3 API server (s3rver): blobs in the registry's storage
 * layout and under a custom key template, credentials from the environment twins of the
 * S3 flags. s3rver checks the access key id (not SigV4 signatures: the signer is checked
 * against AWS's published test vectors in packages/origin/test/s3.test.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type S3Server, type ShoalDaemon, metric, scrapeMetrics, startS3, startShoalAgent, startShoalTracker } from './harness/index.ts';

const MiB = 1 << 20;

describe('the seeder warming from S3', () => {
  let s3: S3Server;
  let registryLayout: ShoalDaemon;
  let modelLayout: ShoalDaemon;
  let wrongKey: ShoalDaemon;
  let agents: ShoalDaemon[] = [];
  const blobs = { layer: randomBytes(6 * MiB + 11), model: randomBytes(6 * MiB) };
  const digestOf = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const hexOf = (bytes: Buffer) => digestOf(bytes).slice(7);

  beforeAll(async () => {
    s3 = await startS3({ buckets: ['registry', 'models'] });
    await s3.putObject('registry', `docker/registry/v2/blobs/sha256/${hexOf(blobs.layer).slice(0, 2)}/${hexOf(blobs.layer)}/data`, blobs.layer);
    await s3.putObject('models', `weights/${hexOf(blobs.model)}.safetensors`, blobs.model);
    const env = { SHOAL_S3_ACCESS_KEY_ID: s3.credentials.accessKeyId, SHOAL_S3_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey };
    const common = ['--s3-endpoint', s3.endpoint, '--s3-addressing', 'path', '--announce-interval', '2s'];
    [registryLayout, modelLayout, wrongKey] = await Promise.all([
      startShoalTracker({ args: ['--s3-bucket', 'registry', ...common], env }),
      startShoalTracker({ args: ['--s3-bucket', 'models', '--s3-key-template', 'weights/{hex}.safetensors', ...common], env }),
      startShoalTracker({ args: ['--s3-bucket', 'models', '--s3-key-template', 'weights/{hex}.safetensors', ...common], env: { ...env, SHOAL_S3_ACCESS_KEY_ID: 'NOT-S3RVER' } }),
    ]);
    agents = await Promise.all([
      startShoalAgent({ trackers: [registryLayout.url] }),
      startShoalAgent({ trackers: [registryLayout.url] }),
      startShoalAgent({ trackers: [modelLayout.url] }),
      startShoalAgent({ trackers: [modelLayout.url] }),
    ]);
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.dispose()));
    for (const t of [registryLayout, modelLayout, wrongKey]) await t?.dispose();
    await s3?.stop();
  });

  for (const [name, blob, pair] of [
    ['the distribution layout', 'layer', [0, 1]],
    ['a custom key template', 'model', [2, 3]],
  ] as const) {
    it(`warms a blob stored under ${name} once and swarms it to agents`, async () => {
      const bytes = blobs[blob];
      const digest = digestOf(bytes);
      const tracker = blob === 'layer' ? registryLayout : modelLayout;
      const bodies = await Promise.all(pair.map(async (i) => Buffer.from(await (await fetch(`${agents[i]!.url}/v1/blobs/${digest}`)).arrayBuffer())));
      for (const body of bodies) expect(body.equals(bytes)).toBe(true);
      expect(metric(await scrapeMetrics(tracker.url), 'shoal_seeder_origin_bytes_total{origin="s3"}')).toBe(bytes.length);
      expect(metric(await scrapeMetrics(tracker.url), 'shoal_seeder_warms_total{origin="s3",result="ok"}')).toBe(1);
      for (const i of pair) expect(metric(await scrapeMetrics(agents[i]!.url), 'shoal_agent_blob_bytes_total{source="origin"}')).toBe(0);
    });
  }

  it('signs with the credentials from the environment: a key the server does not know is refused, clearly', async () => {
    const response = await fetch(`${wrongKey.url}/v1/metainfo/${digestOf(blobs.model)}`);
    expect(response.status).toBe(401);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('ORIGIN_UNAUTHORIZED');
    expect(body.error.message).toMatch(/s3 origin: .*refused access \(HTTP 403/);
    // The secret never appears in what the tracker says or logs.
    expect(body.error.message).not.toContain(s3.credentials.secretAccessKey);
    expect(wrongKey.process.logTail(1000)).not.toMatch(/S3RVER/);
  });
});
