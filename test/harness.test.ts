/**
 * Proves each piece of the e2e harness works on this machine, against the real components:
 * registry (with and without auth), skopeo pushes of the test images, containerd pulls via
 * ctr + hosts.toml and via the CRI plugin's config_path, s3rver, and an opentracker + aria2
 * swarm. Sizes are small here; the real tests choose theirs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  basicAuthHeader,
  hostPlatform,
  makeTempDir,
  makeTorrent,
  MediaType,
  pushModelArtifact,
  pushMultiLayerImage,
  pushMultiPlatformIndex,
  removeDir,
  startAria2,
  startContainerd,
  startRegistry,
  startS3,
  startTracker,
  writeHostsToml,
  type Containerd,
  type PushedImage,
  type Registry,
} from './harness/index.ts';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const CREDS = { username: 'shoal', password: 'hunter2-test' };
/** Accept header listing every manifest type we push, like a real client. */
const MANIFEST_ACCEPT = [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList].join(', ');

let open: Registry;
let authed: Registry;
let openImage: PushedImage;
let authedImage: PushedImage;

beforeAll(async () => {
  [open, authed] = await Promise.all([startRegistry(), startRegistry({ auth: CREDS })]);
  [openImage, authedImage] = await Promise.all([
    pushMultiLayerImage(open, { bigLayerMiB: 4, repository: 'shoal/app', tag: 'v1' }),
    pushMultiLayerImage(authed, { bigLayerMiB: 2, repository: 'private/app', tag: 'v1' }),
  ]);
});

afterAll(async () => {
  await Promise.all([open?.stop(), authed?.stop()]);
});

describe('registry + skopeo push', () => {
  it('serves the pushed image with the digests the harness reports', async () => {
    const res = await fetch(`${open.url}/v2/shoal/app/manifests/v1`, { headers: { accept: MANIFEST_ACCEPT } });
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(openImage.manifest.digest);
    const body = Buffer.from(await res.arrayBuffer());
    expect(`sha256:${sha256(body)}`).toBe(openImage.manifest.digest);
    const manifest = JSON.parse(body.toString()) as { config: { digest: string }; layers: Array<{ digest: string; size: number; mediaType: string }> };
    expect(manifest.config.digest).toBe(openImage.config.digest);
    expect(manifest.layers.map((l) => l.digest)).toEqual(openImage.layers.map((l) => l.digest));
    // The big layer is stored uncompressed (skopeo must not have re-gzipped it).
    expect(manifest.layers[1]?.mediaType).toBe(MediaType.ociLayerTar);
    expect(manifest.layers[1]?.size).toBeGreaterThan(4 * 1024 * 1024);

    const big = openImage.layers[1]!;
    const blob = await fetch(`${open.url}/v2/shoal/app/blobs/${big.digest}`);
    expect(blob.status).toBe(200);
    expect(`sha256:${sha256(Buffer.from(await blob.arrayBuffer()))}`).toBe(big.digest);
    const ranged = await fetch(`${open.url}/v2/shoal/app/blobs/${big.digest}`, { headers: { range: 'bytes=100-199' } });
    expect(ranged.status).toBe(206);
    expect((await ranged.arrayBuffer()).byteLength).toBe(100);
  });

  it('answers 401 + WWW-Authenticate: Basic without credentials, 200 with them', async () => {
    const url = `${authed.url}/v2/private/app/manifests/v1`;
    const anon = await fetch(url, { headers: { accept: MANIFEST_ACCEPT } });
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    await anon.body?.cancel();
    const wrong = await fetch(url, { headers: { accept: MANIFEST_ACCEPT, authorization: basicAuthHeader({ ...CREDS, password: 'nope' }) } });
    expect(wrong.status).toBe(401);
    await wrong.body?.cancel();
    const ok = await fetch(url, { headers: { accept: MANIFEST_ACCEPT, authorization: basicAuthHeader(CREDS) } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('docker-content-digest')).toBe(authedImage.manifest.digest);
    await ok.body?.cancel();
  });

  it('pushes a multi-platform index, a Docker schema2 image and a model artifact with exact digests', async () => {
    const [index, docker, model] = await Promise.all([
      pushMultiPlatformIndex(open, { repository: 'shoal/multi' }),
      pushMultiLayerImage(open, { bigLayerMiB: 1, repository: 'shoal/docker', format: 'docker' }),
      pushModelArtifact(open, { sizeMiB: 3, repository: 'shoal/model' }),
    ]);
    for (const [repo, desc] of [
      ['shoal/multi', index.index],
      ['shoal/docker', docker.manifest],
      ['shoal/model', model.manifest],
    ] as const) {
      const res = await fetch(`${open.url}/v2/${repo}/manifests/v1`, { method: 'HEAD', headers: { accept: MANIFEST_ACCEPT } });
      expect(res.status, repo).toBe(200);
      expect(res.headers.get('docker-content-digest'), repo).toBe(desc.digest);
      expect(res.headers.get('content-type'), repo).toBe(desc.mediaType);
    }
    expect(index.images.map((i) => i.platform.architecture)).toEqual(['amd64', 'arm64']);
    expect(docker.manifest.mediaType).toBe(MediaType.dockerManifest);
    expect(docker.layers[1]?.mediaType).toBe(MediaType.dockerLayerTar);

    const manifest = JSON.parse(
      await (await fetch(`${open.url}/v2/shoal/model/manifests/v1`, { headers: { accept: MANIFEST_ACCEPT } })).text(),
    ) as { artifactType: string; config: { mediaType: string } };
    expect(manifest.artifactType).toBe('application/vnd.shoal.model.v1');
    expect(manifest.config.mediaType).toBe('application/vnd.shoal.model.config.v1+json');
    const layer = model.layers[0]!;
    expect(layer.size).toBe(3 * 1024 * 1024);
    const blob = Buffer.from(await (await fetch(`${open.url}/v2/shoal/model/blobs/${layer.digest}`)).arrayBuffer());
    expect(`sha256:${sha256(blob)}`).toBe(layer.digest);
  });

  it('runs as a pull-through cache of another registry', async () => {
    const proxy = await startRegistry({ proxyRemoteUrl: open.url });
    try {
      const res = await fetch(`${proxy.url}/v2/shoal/app/manifests/v1`, { headers: { accept: MANIFEST_ACCEPT } });
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-content-digest')).toBe(openImage.manifest.digest);
      await res.body?.cancel();
      const big = openImage.layers[1]!;
      const blob = Buffer.from(await (await fetch(`${proxy.url}/v2/shoal/app/blobs/${big.digest}`)).arrayBuffer());
      expect(`sha256:${sha256(blob)}`).toBe(big.digest);
    } finally {
      await proxy.stop();
    }
  });
});

describe('containerd', () => {
  let ctd: Containerd;
  let hostsDir: string;

  beforeAll(async () => {
    hostsDir = await makeTempDir('hosts');
    ctd = await startContainerd({ hostsDir });
  });
  afterAll(async () => {
    await ctd?.stop();
    if (hostsDir) await removeDir(hostsDir);
  });

  it('uses the overlayfs snapshotter and answers CRI Version', async () => {
    expect(ctd.snapshotter).toBe('overlayfs');
    const cri = ctd.cri();
    const v = await cri.version();
    expect(v.runtimeName).toBe('containerd');
    expect(v.runtimeApiVersion).toBe('v1');
  });

  it('ctr pulls through a hosts.toml (server = the registry) and unpacks the layers', async () => {
    // A registry name that does not resolve: the pull can only succeed through hosts.toml.
    await writeHostsToml(hostsDir, 'upstream.shoal.test', { server: open.url });
    const ref = 'upstream.shoal.test/shoal/app:v1';
    await ctd.pull(ref);
    const hello = openImage.files.find((f) => f.path === '/shoal/hello.txt')!;
    expect((await ctd.readFileFromImage(ref, hello.path)).toString()).toBe(hello.content);
    const big = openImage.files.find((f) => f.path === '/shoal/big.bin')!;
    expect(sha256(await ctd.readFileFromImage(ref, big.path))).toBe(big.sha256);
    // The top layer was applied last.
    expect((await ctd.readFileFromImage(ref, '/shoal/version.txt')).toString()).toBe('shoal/app:v1\n');
    const { stdout } = await ctd.ctr(['images', 'ls']);
    expect(stdout).toContain(openImage.manifest.digest);
  });

  it('ctr pulls from a registry with Basic auth (--user), and fails without it', async () => {
    await expect(ctd.pull(authedImage.ref)).rejects.toThrow(/401|unauthorized|authorization/i);
    await ctd.pull(authedImage.ref, { user: CREDS });
    const hello = authedImage.files.find((f) => f.path === '/shoal/hello.txt')!;
    expect((await ctd.readFileFromImage(authedImage.ref, hello.path)).toString()).toBe(hello.content);
  });

  it('ctr picks the host platform from a multi-platform index, and unpacks Docker schema2', async () => {
    const index = await pushMultiPlatformIndex(open, { repository: 'ctd/multi' });
    await ctd.pull(index.ref);
    const platform = hostPlatform();
    expect((await ctd.readFileFromImage(index.ref, '/shoal/platform.txt')).toString()).toBe(
      `${platform.os}/${platform.architecture}\n`,
    );
    const docker = await pushMultiLayerImage(open, { bigLayerMiB: 1, repository: 'ctd/docker', format: 'docker' });
    await ctd.pull(docker.ref);
    const big = docker.files.find((f) => f.path === '/shoal/big.bin')!;
    expect(sha256(await ctd.readFileFromImage(docker.ref, big.path))).toBe(big.sha256);
  });

  it('CRI PullImage goes through registry.config_path, with and without auth', async () => {
    const cri = ctd.cri();
    await writeHostsToml(ctd.criConfigPath, 'cri.shoal.test', { server: open.url });
    const ref = 'cri.shoal.test/shoal/app:v1';
    const imageRef = await cri.pullImage(ref);
    expect(imageRef).toBe(openImage.config.digest);
    const status = await cri.imageStatus(ref);
    expect(status?.repoDigests).toContain(`cri.shoal.test/shoal/app@${openImage.manifest.digest}`);
    const hello = openImage.files.find((f) => f.path === '/shoal/hello.txt')!;
    expect((await ctd.readFileFromImage(ref, hello.path, { namespace: ctd.criNamespace })).toString()).toBe(hello.content);

    await expect(cri.pullImage(authedImage.ref)).rejects.toThrow(/401|unauthorized/i);
    expect(await cri.pullImage(authedImage.ref, { auth: CREDS })).toBe(authedImage.config.digest);

    await cri.removeImage(ref);
    expect(await cri.imageStatus(ref)).toBeNull();
    await cri.removeImage(ref); // idempotent
  });
});

describe('s3rver', () => {
  it('stores and serves objects, with Range', async () => {
    const s3 = await startS3({ buckets: ['models'] });
    try {
      const data = randomBytes(1024 * 1024 + 17);
      await s3.putObject('models', 'llm/v1/model.safetensors', data);
      const got = await s3.getObject('models', 'llm/v1/model.safetensors');
      expect(sha256(got)).toBe(sha256(data));
      const res = await fetch(s3.objectUrl('models', 'llm/v1/model.safetensors'), { headers: { range: 'bytes=10-19' } });
      expect(res.status).toBe(206);
      expect(Buffer.from(await res.arrayBuffer()).equals(data.subarray(10, 20))).toBe(true);
      expect((await fetch(s3.objectUrl('models', 'missing'))).status).toBe(404);
    } finally {
      await s3.stop();
    }
  });
});

describe('BitTorrent baseline (opentracker + aria2c)', () => {
  it('moves a file from a seeder to two rate-capped leechers', async () => {
    const tracker = await startTracker();
    const src = await makeTempDir('bt-src');
    const peers: Array<{ stop(): Promise<void> }> = [];
    try {
      const data = randomBytes(2 * 1024 * 1024);
      const file = join(src, 'blob.bin');
      await writeFile(file, data);
      const torrent = await makeTorrent(file, { announceUrl: tracker.announceUrl, pieceLength: 256 * 1024 });
      await tracker.whitelist(torrent.infoHash);
      const seeder = await startAria2({ torrent, mode: 'seed', dir: src, uploadLimit: '8M' });
      peers.push(seeder);
      await tracker.waitForSeeders(torrent.infoHash, 1);
      const leechers = await Promise.all(
        [0, 1].map(() => startAria2({ torrent, mode: 'leech', downloadLimit: '4M', uploadLimit: '4M', timeoutSec: 60 })),
      );
      peers.push(...leechers);
      await Promise.all(leechers.map((l) => l.finished()));
      for (const l of leechers) expect(sha256(await readFile(l.filePath))).toBe(sha256(data));
    } finally {
      await Promise.all(peers.map((p) => p.stop()));
      await tracker.stop();
      await removeDir(src);
    }
  });
});
