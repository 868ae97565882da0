/**
 * The agent as a registry for clients other than containerd: `skopeo copy` of a model
 * packaged as an OCI artifact (a 200 MiB layer) from the agent, requests without `?ns=` going
 * to the agent's default registry; and the blob endpoint's streaming: ranges (206), and
 * readers that leave early without hurting the others.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type PushedArtifact,
  type Registry,
  type ShoalDaemon,
  makeTempDir,
  metric,
  pushModelArtifact,
  removeDir,
  run,
  scrapeMetrics,
  sha256Hex,
  startRegistry,
  startShoalAgent,
  startShoalTracker,
  waitFor,
} from './harness/index.ts';
import { logLines, writeUpstreamConfig } from './harness/shoal-node.ts';

describe('skopeo and plain HTTP clients through the agent', () => {
  let registry: Registry;
  let model: PushedArtifact;
  let tracker: ShoalDaemon;
  let agent: ShoalDaemon;
  let dir: string;
  let upstreams: string;

  beforeAll(async () => {
    dir = await makeTempDir('shoal-skopeo-');
    registry = await startRegistry();
    model = await pushModelArtifact(registry, { sizeMiB: 200, repository: 'shoal/model', tag: 'v1' });
    tracker = await startShoalTracker({ args: ['--registry-endpoint', `${registry.host}=${registry.url}`] });
    upstreams = await writeUpstreamConfig(dir, { [registry.host]: registry.url });
    agent = await startShoalAgent({ trackers: [tracker.url], args: ['--upstream-config', upstreams, '--default-registry', registry.host] });
  });

  afterAll(async () => {
    await agent?.dispose();
    await tracker?.dispose();
    await registry?.stop();
    if (dir) await removeDir(dir);
  });

  it('skopeo copies a model artifact with a 200 MiB layer from the agent, through the swarm', async () => {
    const layout = join(dir, 'layout');
    const agentHost = new URL(agent.url).host;
    await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${agentHost}/shoal/model:v1`, `oci:${layout}:v1`], { timeoutMs: 120_000 });

    const layer = model.layers[0]!;
    const copied = await readFile(join(layout, 'blobs', 'sha256', layer.digest.slice('sha256:'.length)));
    expect(copied.length).toBe(200 << 20);
    expect(`sha256:${sha256Hex(copied)}`).toBe(layer.digest);
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    expect(index.manifests[0]?.digest).toBe(model.manifest.digest);

    const values = await scrapeMetrics(agent.url);
    expect(metric(values, 'shoal_agent_blob_bytes_total{source="seeder"}')).toBe(layer.size + model.config.size);
    expect(metric(values, 'shoal_agent_blob_bytes_total{source="origin"}')).toBe(0);
    expect(metric(values, `shoal_agent_pulls_total{registry="${registry.host}",result="ok"}`)).toBe(2);
  });

  it('streams one download to several readers: ranges get 206, a reader leaving early hurts no one', async () => {
    const small = await pushModelArtifact(registry, { sizeMiB: 16, repository: 'shoal/small' });
    const layer = small.layers[0]!;
    // Slow enough that the readers below overlap the download.
    const slow = await startShoalAgent({
      trackers: [tracker.url],
      args: ['--upstream-config', upstreams, '--download-rate', '16MB/s'],
    });
    try {
      const url = `${slow.url}/v2/shoal/small/blobs/${layer.digest}?ns=${registry.host}`;
      const leaver = new AbortController();
      const leaving = (async () => {
        const res = await fetch(url, { signal: leaver.signal });
        const reader = res.body!.getReader();
        const first = await reader.read();
        leaver.abort();
        return first.value?.length ?? 0;
      })();
      const tailStart = layer.size - 100_000;
      const [full, tail, leftAfter] = await Promise.all([
        fetch(url).then(async (res) => ({ status: res.status, body: Buffer.from(await res.arrayBuffer()) })),
        fetch(url, { headers: { range: `bytes=${tailStart}-` } }).then(async (res) => ({
          status: res.status,
          range: res.headers.get('content-range'),
          body: Buffer.from(await res.arrayBuffer()),
        })),
        leaving,
      ]);
      expect(leftAfter).toBeGreaterThan(0);
      expect(leftAfter).toBeLessThan(layer.size);
      expect(full.status).toBe(200);
      expect(`sha256:${createHash('sha256').update(full.body).digest('hex')}`).toBe(layer.digest);
      expect(tail.status).toBe(206);
      expect(tail.range).toBe(`bytes ${tailStart}-${layer.size - 1}/${layer.size}`);
      expect(tail.body.equals(full.body.subarray(tailStart))).toBe(true);

      // One download served all three, and it completed.
      await waitFor(() => logLines(slow, 'blob pulled').length > 0, { what: 'the "blob pulled" log line', timeoutMs: 5000 });
      expect(logLines(slow, 'blob pulled').filter((l) => l.digest === layer.digest)).toHaveLength(1);
      expect(logLines(slow, 'blob pull failed')).toEqual([]);
      const values = await scrapeMetrics(slow.url);
      expect(metric(values, 'shoal_agent_blob_bytes_total{source="seeder"}')).toBe(layer.size);
    } finally {
      await slow.dispose();
    }
  });
});
