/**
 * Preheat from a registry that needs auth: `shoal preheat <image>` warms a 3-layer image in
 * the seeder with the tracker's credentials, then six agents pull every blob of it while the
 * origin serves zero bytes; an index is preheated whole or for one platform; the credentials
 * never reach an agent.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type PushedImage,
  type PushedIndex,
  type Registry,
  SHOAL_MAIN,
  type ShoalDaemon,
  makeTempDir,
  metric,
  pushMultiLayerImage,
  pushMultiPlatformIndex,
  removeDir,
  runAllowFail,
  scrapeMetrics,
  sha256Hex,
  startRegistry,
  startShoalAgent,
  startShoalTracker,
} from './harness/index.ts';

const AGENTS = 6;
const CREDS = { username: 'preheat', password: 'tracker-only-s3cret' };
const ORIGIN_BYTES = 'shoal_seeder_origin_bytes_total{origin="registry"}';

interface JobView {
  id: string;
  state: string;
  image?: { reference: string; digest: string; platform?: string; manifests: number };
  totalBytes: number;
  blobs: Array<{ digest: string; size: number; mediaType?: string; state: string; bytes: number }>;
}

describe('preheat from a registry that needs auth', () => {
  let registry: Registry;
  let image: PushedImage;
  let index: PushedIndex;
  let dir: string;
  let tracker: ShoalDaemon;
  let anonymous: ShoalDaemon;
  let agents: ShoalDaemon[] = [];

  beforeAll(async () => {
    registry = await startRegistry({ auth: CREDS });
    [image, index] = await Promise.all([
      pushMultiLayerImage(registry, { bigLayerMiB: 16, repository: 'team/app', tag: '1.0' }),
      pushMultiPlatformIndex(registry, { repository: 'team/multi', tag: '2.0', bigLayerMiB: 1 }),
    ]);
    dir = await makeTempDir('shoal-preheat-');
    await mkdir(join(dir, 'secret'));
    // What a mounted Kubernetes Secret looks like to the tracker.
    const credentials = join(dir, 'secret', 'registries.json');
    await writeFile(credentials, JSON.stringify({ registries: { [registry.host]: CREDS } }));
    const endpoint = ['--registry-endpoint', `${registry.host}=${registry.url}`, '--announce-interval', '2s'];
    [tracker, anonymous] = await Promise.all([
      startShoalTracker({ args: [...endpoint, '--credentials', credentials] }),
      startShoalTracker({ args: endpoint }),
    ]);
    agents = await Promise.all(Array.from({ length: AGENTS }, () => startShoalAgent({ trackers: [tracker.url] })));
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.dispose()));
    await tracker?.dispose();
    await anonymous?.dispose();
    await registry?.stop();
    if (dir) await removeDir(dir);
  });

  const shoal = (...args: string[]) => runAllowFail(process.execPath, [SHOAL_MAIN, ...args], { timeoutMs: 120_000 });

  it('warms every blob of a 3-layer image, then six agents pull it with zero origin bytes', async () => {
    const blobs = [image.config, ...image.layers];
    expect(image.layers).toHaveLength(3);
    const result = await shoal('preheat', '--tracker', tracker.url, image.ref);
    expect(result.code, result.stderr).toBe(0);
    const id = /^preheat ([0-9a-f]{16}): /.exec(result.stdout)?.[1];
    expect(result.stdout).toMatch(/preheated 4 blobs \(.+\) in [\d.]+ s/);

    const job = (await (await fetch(`${tracker.url}/v1/preheat/${id}`)).json()) as JobView;
    expect(job.state).toBe('done');
    expect(job.image).toMatchObject({ reference: `${registry.host}/team/app:1.0`, digest: image.manifest.digest, manifests: 1 });
    expect(job.blobs.map((b) => [b.digest, b.size, b.state, b.bytes])).toEqual(blobs.map((b) => [b.digest, b.size, 'seeding', b.size]));
    const warmed = metric(await scrapeMetrics(tracker.url), ORIGIN_BYTES);
    expect(warmed).toBe(blobs.reduce((a, b) => a + b.size, 0));

    const pulled = await Promise.all(
      agents.flatMap((agent) =>
        blobs.map(async (b) => {
          const response = await fetch(`${agent.url}/v1/blobs/${b.digest}`);
          return { digest: b.digest, status: response.status, sha: sha256Hex(Buffer.from(await response.arrayBuffer())) };
        }),
      ),
    );
    for (const p of pulled) expect([p.status, `sha256:${p.sha}`]).toEqual([200, p.digest]);
    // Zero origin bytes during the pull, at the seeder and at every agent.
    expect(metric(await scrapeMetrics(tracker.url), ORIGIN_BYTES)).toBe(warmed);
    for (const agent of agents) {
      const values = await scrapeMetrics(agent.url);
      expect(metric(values, 'shoal_agent_blob_bytes_total{source="origin"}')).toBe(0);
      expect(metric(values, 'shoal_agent_blob_bytes_total{source="peer"}') + metric(values, 'shoal_agent_blob_bytes_total{source="seeder"}')).toBe(warmed);
    }
  });

  it('never hands the registry credentials to agents, nor logs them', async () => {
    const basic = Buffer.from(`${CREDS.username}:${CREDS.password}`).toString('base64');
    // What an agent receives from the tracker: metainfo and announces.
    const metainfo = await (await fetch(`${tracker.url}/v1/metainfo/${image.layers[1]!.digest}`)).text();
    for (const text of [metainfo, ...agents.map((a) => a.process.logTail(5000)), tracker.process.logTail(5000)]) {
      expect(text).not.toContain(CREDS.password);
      expect(text).not.toContain(basic);
    }
  });

  it('answers a preheat the tracker has no credentials for with a clear error', async () => {
    const result = await shoal('preheat', '--tracker', anonymous.url, image.ref);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/shoal: tracker answered 401: manifest .*team\/app:1.0: registry .* requires credentials .* none are configured for it/);
    expect(metric(await scrapeMetrics(anonymous.url), ORIGIN_BYTES)).toBe(0);
  });

  it('walks an index into every platform, or only the one asked for', async () => {
    const post = async (body: unknown) =>
      (await (await fetch(`${tracker.url}/v1/preheat`, { method: 'POST', body: JSON.stringify(body) })).json()) as JobView;
    const blobsOf = (i: number) => [index.images[i]!.config.digest, ...index.images[i]!.layers.map((l) => l.digest)];
    const all = await post({ image: index.ref });
    expect(all.image).toMatchObject({ digest: index.index.digest, manifests: 3 });
    expect(new Set(all.blobs.map((b) => b.digest))).toEqual(new Set([...blobsOf(0), ...blobsOf(1)]));
    const arm = await post({ image: index.ref, platform: 'linux/arm64' });
    expect(arm.image).toMatchObject({ platform: 'linux/arm64', manifests: 2 });
    expect(arm.blobs.map((b) => b.digest).sort()).toEqual([...new Set(blobsOf(1))].sort());
    const missing = await fetch(`${tracker.url}/v1/preheat`, { method: 'POST', body: JSON.stringify({ image: index.ref, platform: 'windows/amd64' }) });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { message: string } }).error.message).toMatch(/no manifest for platform windows\/amd64/);
  });
});
