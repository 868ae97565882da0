/**
 * A broken swarm never breaks a pull. With no tracker, or a tracker whose seeder cannot reach
 * the registry, the agent either fetches from the registry itself (`--fallback origin`) or
 * answers a fast 404 (`--fallback none`) so that containerd asks the registry; either way the
 * image pulls and unpacks. So does an image from a registry outside the agent's `--registries`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type PushedImage,
  type Registry,
  type ShoalDaemon,
  freePort,
  metric,
  pushMultiLayerImage,
  scrapeMetrics,
  sha256Hex,
  startRegistry,
  startShoalTracker,
  waitFor,
} from './harness/index.ts';
import { type ShoalNode, logLines, startShoalNode } from './harness/shoal-node.ts';

describe('fallback when the swarm cannot serve', () => {
  let registry: Registry;
  let image: PushedImage;
  let deadTracker: string;
  /** A tracker with no endpoint for the test registry: its seeder tries https:// and fails. */
  let blindTracker: ShoalDaemon;
  /** A tracker whose seeder reads the registry at a trickle: its swarm stalls. */
  let slowTracker: ShoalDaemon;
  const nodes: ShoalNode[] = [];

  const blobBytes = () => image.config.size + image.layers.reduce((sum, l) => sum + l.size, 0);
  const bigFile = () => image.files.find((f) => f.path === '/shoal/big.bin')!;
  const containerdBlobRequests = () =>
    (registry.process.stderr() + registry.process.stdout())
      .split('\n')
      .filter((l) => l.includes(`blobs/${image.layers[1]!.digest}`) && l.includes('containerd/')).length;

  async function node(trackers: string[], fallback: 'origin' | 'none', agentArgs: string[] = []): Promise<ShoalNode> {
    const started = await startShoalNode({
      trackers,
      upstreams: { [registry.host]: registry.url },
      registries: [registry.host],
      agentArgs: ['--fallback', fallback, ...agentArgs],
    });
    nodes.push(started);
    return started;
  }

  async function pullAndCheck(n: ShoalNode): Promise<void> {
    await n.containerd.pull(image.ref);
    expect(sha256Hex(await n.containerd.readFileFromImage(image.ref, '/shoal/big.bin'))).toBe(bigFile().sha256);
  }

  beforeAll(async () => {
    registry = await startRegistry();
    image = await pushMultiLayerImage(registry, { bigLayerMiB: 4, repository: 'shoal/fallback', tag: 'v1' });
    deadTracker = `http://127.0.0.1:${await freePort()}`;
    blindTracker = await startShoalTracker();
    slowTracker = await startShoalTracker({ args: ['--registry-endpoint', `${registry.host}=${registry.url}`, '--origin-rate', '32KB/s'] });
  });

  afterAll(async () => {
    for (const n of nodes) await n.stop();
    await blindTracker?.dispose();
    await slowTracker?.dispose();
    await registry?.stop();
  });

  it('--fallback none: no tracker means a 404 at once, and containerd pulls from the registry', async () => {
    const n = await node([deadTracker], 'none');
    const res = await fetch(`${n.agent.url}/v2/shoal/fallback/blobs/${image.layers[1]!.digest}?ns=${registry.host}`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ errors: [{ code: 'BLOB_UNKNOWN', message: expect.stringContaining('--fallback none') }] });

    const before = containerdBlobRequests();
    await pullAndCheck(n);
    expect(containerdBlobRequests()).toBeGreaterThan(before);
    expect(metric(await scrapeMetrics(n.agent.url), `shoal_agent_served_bytes_total{registry="${registry.host}"}`)).toBe(0);
  });

  it('--fallback origin: with no tracker the agent fetches from the registry itself', async () => {
    const n = await node([deadTracker], 'origin');
    const before = containerdBlobRequests();
    await pullAndCheck(n);
    expect(containerdBlobRequests()).toBe(before);
    const values = await scrapeMetrics(n.agent.url);
    expect(metric(values, 'shoal_agent_blob_bytes_total{source="origin"}')).toBe(blobBytes());
    expect(metric(values, `shoal_agent_served_bytes_total{registry="${registry.host}"}`)).toBe(blobBytes());
  });

  it('--fallback origin: when the seeder cannot reach the registry, the agent does', async () => {
    const n = await node([blindTracker.url], 'origin');
    const before = containerdBlobRequests();
    await pullAndCheck(n);
    expect(containerdBlobRequests()).toBe(before);
    const values = await scrapeMetrics(n.agent.url);
    expect(metric(values, 'shoal_agent_blob_bytes_total{source="origin"}')).toBe(blobBytes());
    expect(metric(values, 'shoal_agent_blob_bytes_total{source="seeder"}')).toBe(0);
  });

  it('--registries: a registry the agent does not serve gets a 404 before anything is fetched, and containerd pulls it itself', async () => {
    const n = await node([deadTracker], 'origin', ['--registries', 'registry.example.com']);
    const registryRequests = () => (registry.process.stderr() + registry.process.stdout()).split('\n').filter((l) => l.includes('shoal/fallback')).length;
    const asked = registryRequests();
    const res = await fetch(`${n.agent.url}/v2/shoal/fallback/manifests/v1?ns=${registry.host}`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ errors: [{ code: 'NAME_UNKNOWN', message: expect.stringContaining('--registries') }] });
    expect(registryRequests()).toBe(asked);

    const before = containerdBlobRequests();
    await pullAndCheck(n);
    expect(containerdBlobRequests()).toBeGreaterThan(before);
    const values = await scrapeMetrics(n.agent.url);
    expect(metric(values, 'shoal_agent_blob_bytes_total{source="origin"}')).toBe(0);
    expect(metric(values, `shoal_agent_served_bytes_total{registry="${registry.host}"}`)).toBe(0);
  });

  it('--fallback none: a stalled swarm cuts the reader off instead of leaving it waiting', async () => {
    const n = await node([slowTracker.url], 'none', ['--stall-timeout', '1s']);
    const layer = image.layers[1]!;
    // Headers go out with the first piece, which never comes: the connection is closed
    // (containerd then tries the next host), never left hanging or finished short.
    const read = fetch(`${n.agent.url}/v2/shoal/fallback/blobs/${layer.digest}?ns=${registry.host}`).then((res) => res.arrayBuffer());
    await expect(read).rejects.toThrow();
    await waitFor(() => logLines(n.agent, 'blob pull failed').length > 0, { what: 'the "blob pull failed" log line', timeoutMs: 5000 });
    const [failed] = logLines(n.agent, 'blob pull failed');
    expect(failed).toMatchObject({ digest: layer.digest, registry: registry.host, repository: 'shoal/fallback' });
    expect(failed!.err).toMatch(/no origin to fall back to/);
  });
});
