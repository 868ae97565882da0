/**
 * containerd pulls through Shoal: a real containerd, configured only by the hosts.toml that
 * `shoal agent configure-containerd` wrote, pulls from a real registry through the agent; the
 * layers come through the swarm (the tracker's seeder fetches them from the registry once),
 * a second node gets them from the first, and with its agent stopped a node still pulls.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type PushedImage,
  type Registry,
  type ShoalDaemon,
  hostPlatform,
  metric,
  pushMultiLayerImage,
  pushMultiPlatformIndex,
  scrapeMetrics,
  sha256Hex,
  startRegistry,
  startShoalTracker,
} from './harness/index.ts';
import { type ShoalNode, logLines, startShoalNode } from './harness/shoal-node.ts';

const BIG_LAYER_MIB = 100;

describe('containerd pulls through the agent', () => {
  let registry: Registry;
  let image: PushedImage;
  let tracker: ShoalDaemon;
  let nodeA: ShoalNode;
  let nodeB: ShoalNode | undefined;

  const bigLayer = () => image.layers.find((l) => l.size >= BIG_LAYER_MIB << 20)!;
  const bigFile = () => image.files.find((f) => f.path === '/shoal/big.bin')!;
  const series = (name: string, labels: string) => `${name}{${labels}}`;

  beforeAll(async () => {
    registry = await startRegistry();
    image = await pushMultiLayerImage(registry, { bigLayerMiB: BIG_LAYER_MIB, repository: 'shoal/app', tag: 'v1' });
    tracker = await startShoalTracker({ args: ['--registry-endpoint', `${registry.host}=${registry.url}`] });
    nodeA = await startShoalNode({
      trackers: [tracker.url],
      upstreams: { [registry.host]: registry.url },
      registries: [registry.host],
    });
  });

  afterAll(async () => {
    await nodeB?.stop();
    await nodeA?.stop();
    await tracker?.dispose();
    await registry?.stop();
  });

  it('ctr pulls a multi-layer image with the layers from the swarm, configured only by configure-containerd', async () => {
    const hostsToml = join(nodeA.hostsDir, registry.host, 'hosts.toml');
    expect(nodeA.configureOutput).toEqual([`written   ${hostsToml}`]);
    const written = await readFile(hostsToml, 'utf8');
    expect(written).toContain(`server = "${registry.url}"`);
    expect(written).toContain(`[host."${nodeA.agent.url}"]`);

    await nodeA.containerd.pull(image.ref);
    const big = await nodeA.containerd.readFileFromImage(image.ref, '/shoal/big.bin');
    expect(big.length).toBe(bigFile().size);
    expect(sha256Hex(big)).toBe(bigFile().sha256);
    expect((await nodeA.containerd.readFileFromImage(image.ref, '/shoal/version.txt')).toString()).toBe('shoal/app:v1\n');

    // Every blob (config and three layers) was one pull through the swarm, labelled by registry.
    const values = await scrapeMetrics(nodeA.agent.url);
    const registryLabel = `registry="${registry.host}"`;
    expect(metric(values, series('shoal_agent_pulls_total', `${registryLabel},result="ok"`))).toBe(1 + image.layers.length);
    const blobBytes = image.config.size + image.layers.reduce((sum, l) => sum + l.size, 0);
    expect(metric(values, 'shoal_agent_blob_bytes_total{source="seeder"}')).toBe(blobBytes);
    expect(metric(values, 'shoal_agent_blob_bytes_total{source="origin"}')).toBe(0);
    expect(metric(values, series('shoal_agent_served_bytes_total', registryLabel))).toBe(blobBytes);
    expect(metric(values, series('shoal_agent_registry_requests_total', `${registryLabel},kind="manifests",code="200"`))).toBeGreaterThan(0);

    // The registry never served the big layer to containerd itself: only to the seeder.
    const registryLog = registry.process.stderr() + registry.process.stdout();
    const layerRequests = registryLog.split('\n').filter((l) => l.includes(`blobs/${bigLayer().digest}`));
    expect(layerRequests.length).toBeGreaterThan(0);
    expect(layerRequests.filter((l) => l.includes('containerd/'))).toEqual([]);

    // One log line for the layer's pull: where its bytes came from, and how long it took.
    const [pulled] = logLines(nodeA.agent, 'blob pulled').filter((l) => l.digest === bigLayer().digest);
    expect(pulled).toMatchObject({
      registry: registry.host,
      repository: 'shoal/app',
      size: bigLayer().size,
      bytes: { store: 0, peer: 0, seeder: bigLayer().size, origin: 0 },
    });
    expect(pulled!.durationMs).toBeGreaterThan(0);
  });

  it('a second node pulls through the CRI plugin (config_path, _default) and gets the layers from the first agent', async () => {
    const seederBefore = await scrapeMetrics(tracker.url);
    nodeB = await startShoalNode({
      trackers: [tracker.url],
      upstreams: { [registry.host]: registry.url },
      registries: ['_default'],
    });
    expect(nodeB.configureOutput).toEqual([`written   ${join(nodeB.hostsDir, '_default', 'hosts.toml')}`]);
    const cri = nodeB.containerd.cri();
    await cri.pullImage(image.ref);
    const big = await nodeB.containerd.readFileFromImage(image.ref, '/shoal/big.bin', { namespace: 'k8s.io' });
    expect(sha256Hex(big)).toBe(bigFile().sha256);

    const values = await scrapeMetrics(nodeB.agent.url);
    expect(metric(values, 'shoal_agent_blob_bytes_total{source="origin"}')).toBe(0);
    // The layer's bytes came from a peer: node A is the only other agent.
    const [pulled] = logLines(nodeB.agent, 'blob pulled').filter((l) => l.digest === bigLayer().digest);
    expect(pulled?.bytes).toMatchObject({ peer: bigLayer().size, origin: 0 });
    const uploadedByA = metric(await scrapeMetrics(nodeA.agent.url), 'shoal_agent_uploaded_bytes_total');
    expect(uploadedByA).toBeGreaterThanOrEqual(bigLayer().size);
    // And the registry was not read again for it.
    const seederAfter = await scrapeMetrics(tracker.url);
    const originBytes = (m: Map<string, number>) => metric(m, 'shoal_seeder_origin_bytes_total{origin="registry"}');
    expect(originBytes(seederAfter)).toBe(originBytes(seederBefore));
  });

  it('pulls an image index (the host platform) and a Docker schema 2 image through the agent', async () => {
    const [index, docker] = await Promise.all([
      pushMultiPlatformIndex(registry, { repository: 'shoal/multi' }),
      pushMultiLayerImage(registry, { bigLayerMiB: 1, repository: 'shoal/docker', format: 'docker' }),
    ]);
    const before = metric(await scrapeMetrics(nodeA.agent.url), `shoal_agent_served_bytes_total{registry="${registry.host}"}`);
    await nodeA.containerd.pull(index.ref);
    await nodeA.containerd.pull(docker.ref);
    const platform = hostPlatform();
    expect((await nodeA.containerd.readFileFromImage(index.ref, '/shoal/platform.txt')).toString()).toBe(`${platform.os}/${platform.architecture}\n`);
    expect((await nodeA.containerd.readFileFromImage(docker.ref, '/shoal/version.txt')).toString()).toBe('shoal/docker:v1\n');

    const served = metric(await scrapeMetrics(nodeA.agent.url), `shoal_agent_served_bytes_total{registry="${registry.host}"}`) - before;
    const hostImage = index.images.find((i) => i.platform.architecture === platform.architecture)!;
    const sizeOf = (i: PushedImage) => i.config.size + i.layers.reduce((sum, l) => sum + l.size, 0);
    expect(served).toBe(sizeOf(hostImage) + sizeOf(docker));
  });

  it('still pulls with the agent stopped: containerd falls back to the registry', async () => {
    await nodeA.containerd.removeImage(image.ref);
    await nodeA.agent.stop();
    await nodeA.containerd.pull(image.ref);
    const big = await nodeA.containerd.readFileFromImage(image.ref, '/shoal/big.bin');
    expect(sha256Hex(big)).toBe(bigFile().sha256);
    const registryLog = registry.process.stderr() + registry.process.stdout();
    expect(registryLog.split('\n').some((l) => l.includes(`blobs/${bigLayer().digest}`) && l.includes('containerd/'))).toBe(true);
  });
});
