import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ShoalDaemon,
  type TestBlob,
  makeTempDir,
  metric,
  removeDir,
  runAllowFail,
  scrapeMetrics,
  sha256Hex,
  startShoalAgent,
  startShoalTracker,
  writeRandomBlob,
} from './harness/index.ts';

const SIZE = 64 << 20;
const AGENTS = 6;

describe('one blob swarmed from a seeder to six agents', () => {
  let originDir: string;
  let blob: TestBlob;
  let tracker: ShoalDaemon;
  const agents: ShoalDaemon[] = [];

  beforeAll(async () => {
    originDir = await makeTempDir('shoal-origin-');
    blob = await writeRandomBlob(originDir, SIZE);
    tracker = await startShoalTracker({ originDir });
    for (let i = 0; i < AGENTS; i++) agents.push(await startShoalAgent({ trackers: [tracker.url] }));
  });

  afterAll(async () => {
    for (const agent of agents) await agent.dispose();
    await tracker?.dispose();
    await removeDir(originDir);
  });

  it('delivers the exact bytes to every agent while peers trade pieces', async () => {
    const bodies = await Promise.all(
      agents.map(async (agent) => {
        const response = await fetch(`${agent.url}/v1/blobs/${blob.digest}`);
        expect(response.status).toBe(200);
        expect(response.headers.get('docker-content-digest')).toBe(blob.digest);
        return Buffer.from(await response.arrayBuffer());
      }),
    );
    for (const body of bodies) {
      expect(body.length).toBe(SIZE);
      expect(`sha256:${sha256Hex(body)}`).toBe(blob.digest);
    }

    const seeder = await scrapeMetrics(tracker.url);
    const seederUploaded = metric(seeder, 'shoal_seeder_uploaded_bytes_total');
    expect(metric(seeder, 'shoal_seeder_origin_bytes_total{origin="directory"}')).toBe(SIZE);
    expect(seederUploaded / SIZE).toBeLessThan(2);

    let fromPeers = 0;
    let fromSeeder = 0;
    for (const agent of agents) {
      const values = await scrapeMetrics(agent.url);
      fromPeers += metric(values, 'shoal_agent_blob_bytes_total{source="peer"}');
      fromSeeder += metric(values, 'shoal_agent_blob_bytes_total{source="seeder"}');
      expect(metric(values, 'shoal_agent_blob_bytes_total{source="origin"}')).toBe(0);
    }
    // Every stored byte came from the seeder or a peer, and peers supplied most of them.
    expect(fromPeers + fromSeeder).toBe(AGENTS * SIZE);
    expect(fromSeeder).toBeLessThanOrEqual(seederUploaded);
    expect(fromPeers).toBeGreaterThan((AGENTS - 2) * SIZE);
  });

  it('exposes metrics that promtool accepts', async () => {
    for (const daemon of [tracker, agents[0]!]) {
      const text = await (await fetch(`${daemon.url}/metrics`)).text();
      const { stdout, stderr } = await runAllowFail('promtool', ['check', 'metrics'], { input: text });
      // prom-client's default process metrics name three gauges *_total
      // (nodejs_active_handles/requests/resources_total); every other finding is ours.
      const problems = `${stdout}${stderr}`
        .split('\n')
        .filter((line) => line.trim() !== '' && !/_nodejs_active_(handles|requests|resources)_total non-counter/.test(line));
      expect(problems).toEqual([]);
    }
  });

  it('serves a second request from the store, with ranges', async () => {
    const agent = agents[0]!;
    const response = await fetch(`${agent.url}/v1/blobs/${blob.digest}`, { headers: { Range: 'bytes=1000-1999' } });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe(`bytes 1000-1999/${SIZE}`);
    expect(Buffer.from(await response.arrayBuffer())).toEqual(blob.bytes.subarray(1000, 2000));
    const head = await fetch(`${agent.url}/v1/blobs/${blob.digest}`, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(SIZE));
    const values = await scrapeMetrics(agent.url);
    expect(metric(values, 'shoal_agent_blob_bytes_total{source="store"}')).toBe(1000);
  });
});
