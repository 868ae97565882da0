/**
 * A private repository behind the agent: the registry's 401 and its challenge reach
 * containerd, which pulls with the credentials the kubelet would give it (CRI AuthConfig);
 * the bytes still come through the swarm (the seeder has its own credentials). A client
 * without valid credentials gets no blob from the agent, not even one already in its store.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type PushedImage,
  type Registry,
  type ShoalDaemon,
  basicAuthHeader,
  makeTempDir,
  metric,
  pushMultiLayerImage,
  removeDir,
  scrapeMetrics,
  sha256Hex,
  startRegistry,
  startShoalTracker,
} from './harness/index.ts';
import { type ShoalNode, startShoalNode } from './harness/shoal-node.ts';

const CREDS = { username: 'puller', password: 'correct-horse-battery' };

describe('a private repository through the agent', () => {
  let registry: Registry;
  let image: PushedImage;
  let secrets: string;
  let tracker: ShoalDaemon;
  let node: ShoalNode;

  const big = () => image.layers[1]!;
  const blobUrl = (digest: string, repository = 'private/app') => `${node.agent.url}/v2/${repository}/blobs/${digest}?ns=${registry.host}`;
  const served = async () => metric(await scrapeMetrics(node.agent.url), `shoal_agent_served_bytes_total{registry="${registry.host}"}`);

  beforeAll(async () => {
    registry = await startRegistry({ auth: CREDS });
    image = await pushMultiLayerImage(registry, { bigLayerMiB: 8, repository: 'private/app', tag: 'v1' });
    secrets = await makeTempDir('shoal-secrets-');
    const credentials = join(secrets, 'credentials.json');
    await writeFile(credentials, JSON.stringify({ registries: { [registry.host]: CREDS } }));
    tracker = await startShoalTracker({
      args: ['--registry-endpoint', `${registry.host}=${registry.url}`, '--credentials', credentials],
    });
    node = await startShoalNode({
      trackers: [tracker.url],
      upstreams: { [registry.host]: registry.url },
      registries: [registry.host],
    });
  });

  afterAll(async () => {
    await node?.stop();
    await tracker?.dispose();
    await registry?.stop();
    if (secrets) await removeDir(secrets);
  });

  it('pulls with credentials (CRI AuthConfig), the layers through the swarm', async () => {
    const cri = node.containerd.cri();
    await cri.pullImage(image.ref, { auth: CREDS });
    const file = image.files.find((f) => f.path === '/shoal/big.bin')!;
    const bytes = await node.containerd.readFileFromImage(image.ref, '/shoal/big.bin', { namespace: 'k8s.io' });
    expect(sha256Hex(bytes)).toBe(file.sha256);
    const values = await scrapeMetrics(node.agent.url);
    expect(metric(values, 'shoal_agent_blob_bytes_total{source="seeder"}')).toBeGreaterThanOrEqual(big().size);
    expect(metric(values, `shoal_agent_served_bytes_total{registry="${registry.host}"}`)).toBeGreaterThanOrEqual(big().size);
    // The registry's challenge went to containerd through the agent.
    expect(metric(values, `shoal_agent_registry_requests_total{registry="${registry.host}",kind="manifests",code="401"}`)).toBeGreaterThan(0);
    // The agent never logs a credential.
    expect(node.agent.process.stdout() + node.agent.process.stderr()).not.toContain(basicAuthHeader(CREDS).slice('Basic '.length));
  });

  it('gives a client without valid credentials no blob, not even a stored one', async () => {
    const status = (await (await fetch(`${node.agent.url}/v1/status`)).json()) as { blobs: Array<{ digest: string; complete: boolean }> };
    expect(status.blobs.find((b) => b.digest === big().digest)?.complete).toBe(true);
    const before = await served();

    for (const headers of [{}, { authorization: basicAuthHeader({ ...CREDS, password: 'wrong' }) }]) {
      for (const method of ['GET', 'HEAD']) {
        const res = await fetch(blobUrl(big().digest), { method, headers });
        expect(res.status, `${method} ${JSON.stringify(headers)}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
        expect(res.headers.get('docker-content-digest')).toBeNull();
        const body = Buffer.from(await res.arrayBuffer());
        expect(body.length).toBeLessThan(1024);
      }
      const manifest = await fetch(`${node.agent.url}/v2/private/app/manifests/${image.manifest.digest}?ns=${registry.host}`, { headers });
      expect(manifest.status).toBe(401);
      expect(await manifest.text()).not.toContain(big().digest);
    }
    // ctr without credentials cannot pull either (the agent answers 401, and so does the registry).
    await expect(node.containerd.pull(image.ref, { namespace: 'anonymous' })).rejects.toThrow(/401|unauthorized/i);
    expect(await served()).toBe(before);

    // The same requests with the credentials get the bytes.
    const res = await fetch(blobUrl(big().digest), { headers: { authorization: basicAuthHeader(CREDS) } });
    expect(res.status).toBe(200);
    expect(`sha256:${sha256Hex(Buffer.from(await res.arrayBuffer()))}`).toBe(big().digest);
    expect(await served()).toBe(before + big().size);
  });
});
