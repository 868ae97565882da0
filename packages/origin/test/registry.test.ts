import { ErrorCode, ShoalError } from '@shoal/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ManifestMediaType,
  RegistryClient,
  RegistryOrigin,
  canonicalRegistry,
  fetchBlob,
  fetchManifest,
  listImageBlobs,
  normalizeRepository,
  parseWwwAuthenticate,
} from '../src/index.ts';
import { digestOf, testBlob } from './helpers/blob-server.ts';
import { type FakeAuth, type FakeRegistry, putManifest, startFakeRegistry } from './helpers/fake-registry.ts';

let fakes: FakeRegistry[] = [];
afterEach(async () => {
  await Promise.all(fakes.map((f) => f.close()));
  fakes = [];
});
async function fake(auth: FakeAuth, options?: { redirect?: boolean }): Promise<FakeRegistry> {
  const f = await startFakeRegistry(auth, options);
  fakes.push(f);
  return f;
}
function clientFor(f: FakeRegistry, extra: ConstructorParameters<typeof RegistryClient>[0] = {}): RegistryClient {
  return new RegistryClient({ endpoints: { [f.host]: f.registry.url }, ...extra });
}
async function rejection(promise: Promise<unknown>): Promise<ShoalError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ShoalError);
  return err as ShoalError;
}

const PIECE = 64 * 1024;

describe('RegistryOrigin', () => {
  it('runs the Bearer flow with credentials, caches the token, and follows the storage redirect without it', async () => {
    const f = await fake({ kind: 'bearer', username: 'puller', password: 'pa55word', expiresIn: 300 });
    const blob = testBlob(500_000);
    const digest = digestOf(blob);
    f.blobs.set(digest, blob);
    const origin = new RegistryOrigin({
      client: clientFor(f, { credentials: new Map([[f.host, { username: 'puller', password: 'pa55word' }]]) }),
    });
    const source = { kind: 'registry', registry: f.host, repository: 'team/app' } as const;
    expect(origin.accepts(source)).toBe(true);
    expect(origin.accepts(undefined)).toBe(false);
    const stats = await fetchBlob(origin, digest, source, { pieceLength: PIECE, chunkSize: 2 * PIECE, concurrency: 4 });
    expect(stats.bytes).toBe(blob.length);

    // One token for the whole fetch (stat + 4 ranges), asked with Basic credentials and our scope.
    expect(f.tokenRequests).toHaveLength(1);
    const [token] = f.tokenRequests;
    expect(token!.authorization).toBe(`Basic ${Buffer.from('puller:pa55word').toString('base64')}`);
    expect(token!.query.get('service')).toBe('fake-registry');
    expect(token!.query.getAll('scope')).toEqual(['repository:team/app:pull']);
    // Storage got the ranges but never the registry's token.
    const storageGets = f.storage.requests.filter((r) => r.method === 'GET');
    expect(storageGets.length).toBeGreaterThanOrEqual(4);
    for (const r of f.storage.requests) expect(r.headers.authorization).toBeUndefined();
    expect(storageGets.every((r) => r.range?.startsWith('bytes='))).toBe(true);
  });

  it('gets a new token when the cached one expires or is revoked', async () => {
    const f = await fake({ kind: 'bearer', expiresIn: 60 });
    const blob = testBlob(10_000);
    const digest = digestOf(blob);
    f.blobs.set(digest, blob);
    let now = 1_000_000;
    const origin = new RegistryOrigin({ client: clientFor(f, { now: () => now }) });
    const source = { kind: 'registry', registry: f.host, repository: 'app' } as const;
    await origin.stat(digest, source);
    await origin.stat(digest, source);
    expect(f.tokenRequests).toHaveLength(1);
    // Anonymous: no credentials configured, none sent.
    expect(f.tokenRequests[0]!.authorization).toBeUndefined();
    now += 55_000; // past 90% of 60 s
    await origin.stat(digest, source);
    expect(f.tokenRequests).toHaveLength(2);
    f.tokens.clear(); // revoked
    await origin.stat(digest, source);
    expect(f.tokenRequests).toHaveLength(3);
  });

  it('shares one token request among parallel ranges that meet the same 401', async () => {
    const f = await fake({ kind: 'bearer' });
    const blob = testBlob(400_000);
    const digest = digestOf(blob);
    f.blobs.set(digest, blob);
    const origin = new RegistryOrigin({ client: clientFor(f) });
    await fetchBlob(origin, digest, { kind: 'registry', registry: f.host, repository: 'app' }, {
      size: blob.length,
      pieceLength: PIECE,
      chunkSize: PIECE,
      concurrency: 6,
    });
    expect(f.tokenRequests).toHaveLength(1);
  });

  it('reports refused credentials as ORIGIN_UNAUTHORIZED without quoting them', async () => {
    const f = await fake({ kind: 'bearer', username: 'puller', password: 'right' });
    const digest = digestOf(Buffer.from('x'));
    const origin = new RegistryOrigin({ client: clientFor(f, { credentials: new Map([[f.host, { username: 'puller', password: 'wr0ng-s3cret' }]]) }) });
    const err = await rejection(origin.stat(digest, { kind: 'registry', registry: f.host, repository: 'app' }));
    expect(err.code).toBe(ErrorCode.ORIGIN_UNAUTHORIZED);
    expect(err.message).toMatch(/refused the configured credentials/);
    expect(JSON.stringify({ m: err.message, d: err.details })).not.toContain('wr0ng-s3cret');
  });

  it('answers a Basic challenge with configured credentials, and says so when there are none or they are wrong', async () => {
    const f = await fake({ kind: 'basic', username: 'u', password: 'p' }, { redirect: false });
    const blob = testBlob(50_000);
    const digest = digestOf(blob);
    f.blobs.set(digest, blob);
    const source = { kind: 'registry', registry: f.host, repository: 'app' } as const;
    const ok = new RegistryOrigin({ client: clientFor(f, { credentials: new Map([[f.host, { username: 'u', password: 'p' }]]) }) });
    expect((await fetchBlob(ok, digest, source, { pieceLength: PIECE })).bytes).toBe(blob.length);

    const none = await rejection(new RegistryOrigin({ client: clientFor(f) }).stat(digest, source));
    expect(none.code).toBe(ErrorCode.ORIGIN_UNAUTHORIZED);
    expect(none.message).toMatch(/requires credentials/);
    const wrong = await rejection(
      new RegistryOrigin({ client: clientFor(f, { credentials: new Map([[f.host, { username: 'u', password: 'nope' }]]) }) }).stat(digest, source),
    );
    expect(wrong.code).toBe(ErrorCode.ORIGIN_UNAUTHORIZED);
    expect(wrong.message).not.toContain('nope');
  });

  it('maps a missing blob to BLOB_UNKNOWN', async () => {
    const f = await fake({ kind: 'none' });
    const err = await rejection(
      new RegistryOrigin({ client: clientFor(f) }).stat(digestOf(Buffer.from('nope')), { kind: 'registry', registry: f.host, repository: 'app' }),
    );
    expect(err.code).toBe(ErrorCode.BLOB_UNKNOWN);
  });
});

describe('fetchManifest and listImageBlobs', () => {
  function image(f: FakeRegistry, seed: number, foreign = false) {
    const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(Buffer.from(`config${seed}`)), size: 7 };
    const layers = [
      { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(Buffer.from(`layer${seed}`)), size: 100 + seed },
      { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(Buffer.from('shared base')), size: 1000 },
      ...(foreign ? [{ mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', digest: digestOf(Buffer.from('win')), size: 5, urls: ['https://example.com/l'] }] : []),
    ];
    const doc = { schemaVersion: 2, mediaType: ManifestMediaType.OCI_MANIFEST, config, layers };
    return { digest: putManifest(f, doc, ManifestMediaType.OCI_MANIFEST), config, layers };
  }

  it('sends manifest Accept headers, computes the digest, and refuses a body that does not match it', async () => {
    const f = await fake({ kind: 'bearer' });
    const img = image(f, 1);
    f.manifests.set('v1', f.manifests.get(img.digest)!);
    const client = clientFor(f);
    const byTag = await fetchManifest(f.host, 'app', 'v1', { client });
    expect(byTag.status).toBe(200);
    expect(byTag.digest).toBe(img.digest);
    expect(byTag.mediaType).toBe(ManifestMediaType.OCI_MANIFEST);
    const accept = String(f.registry.requests.find((r) => r.url.endsWith('/manifests/v1'))!.headers.accept);
    for (const t of Object.values(ManifestMediaType)) expect(accept).toContain(t);

    const head = await fetchManifest(f.host, 'app', 'v1', { client, method: 'HEAD' });
    expect(head.body.length).toBe(0);
    expect(head.digest).toBe(img.digest);

    const liar = digestOf(Buffer.from('something else'));
    f.manifests.set(liar, f.manifests.get(img.digest)!);
    expect((await rejection(fetchManifest(f.host, 'app', liar, { client }))).code).toBe(ErrorCode.DIGEST_MISMATCH);
    expect((await fetchManifest(f.host, 'app', 'missing', { client })).status).toBe(404);
  });

  it('passes a client Authorization through and returns the 401 with its challenge', async () => {
    const f = await fake({ kind: 'bearer' });
    image(f, 1);
    const res = await fetchManifest(f.host, 'app', 'latest', { client: clientFor(f), authorization: 'Bearer not-a-token' });
    expect(res.status).toBe(401);
    expect(String(res.headers['www-authenticate'])).toMatch(/^Bearer realm=/);
    expect(f.tokenRequests).toHaveLength(0);
  });

  it('lists config and layers through an index, each once, for every platform or one', async () => {
    const f = await fake({ kind: 'none' });
    const amd = image(f, 1);
    const arm = image(f, 2, true);
    const index = {
      schemaVersion: 2,
      mediaType: ManifestMediaType.OCI_INDEX,
      manifests: [
        { mediaType: ManifestMediaType.OCI_MANIFEST, digest: amd.digest, size: 1, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: ManifestMediaType.OCI_MANIFEST, digest: arm.digest, size: 1, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    };
    const indexDigest = putManifest(f, index, ManifestMediaType.OCI_INDEX, 'multi');
    const client = clientFor(f);
    const all = await listImageBlobs(f.host, 'app', 'multi', { client });
    expect(all.digest).toBe(indexDigest);
    expect(all.manifests.map((m) => m.digest)).toEqual([indexDigest, amd.digest, arm.digest]);
    // Shared base layer once, foreign layer left out.
    expect(all.blobs.map((b) => b.digest)).toEqual([amd.config.digest, amd.layers[0]!.digest, amd.layers[1]!.digest, arm.config.digest, arm.layers[0]!.digest]);

    const one = await listImageBlobs(f.host, 'app', 'multi', { client, platform: 'linux/arm64' });
    expect(one.blobs.map((b) => b.digest)).toEqual([arm.config.digest, arm.layers[0]!.digest, arm.layers[1]!.digest]);
    expect(one.manifests[1]!.platform).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    const none = await rejection(listImageBlobs(f.host, 'app', 'multi', { client, platform: 'windows/amd64' }));
    expect(none.code).toBe(ErrorCode.BLOB_UNKNOWN);
    expect((await rejection(listImageBlobs(f.host, 'app', 'nope', { client }))).code).toBe(ErrorCode.BLOB_UNKNOWN);
  });
});

describe('registry names and challenges', () => {
  it('follows Docker Hub conventions', () => {
    expect(canonicalRegistry('index.docker.io')).toBe('docker.io');
    expect(canonicalRegistry('https://index.docker.io/v1/')).toBe('docker.io');
    expect(canonicalRegistry('Registry.Example.com:5000')).toBe('registry.example.com:5000');
    expect(normalizeRepository('docker.io', 'ubuntu')).toBe('library/ubuntu');
    expect(normalizeRepository('docker.io', 'bitnami/redis')).toBe('bitnami/redis');
    expect(normalizeRepository('ghcr.io', 'ubuntu')).toBe('ubuntu');
    expect(new RegistryClient().endpoint('docker.io')).toBe('https://registry-1.docker.io');
    expect(new RegistryClient().endpoint('quay.io')).toBe('https://quay.io');
    expect(new RegistryClient({ endpoints: { 'localhost:5000': 'http://127.0.0.1:5000/' } }).endpoint('localhost:5000')).toBe('http://127.0.0.1:5000');
  });

  it('rejects names that could escape a URL path', async () => {
    expect(() => normalizeRepository('r.io', '../etc')).toThrow(/invalid repository/);
    expect(() => normalizeRepository('r.io', 'App')).toThrow(/invalid repository/);
    expect(() => canonicalRegistry('evil.com/x')).toThrow(/invalid registry/);
    expect(() => canonicalRegistry('bad host')).toThrow(/invalid registry/);
    await expect(fetchManifest('r.io', 'app', 'bad/tag')).rejects.toThrow(/invalid manifest reference/);
  });

  it('parses WWW-Authenticate challenges', () => {
    expect(
      parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull"'),
    ).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/ubuntu:pull' } },
    ]);
    expect(parseWwwAuthenticate(['Basic realm="Registry Realm"', 'Bearer realm=https://a/t, error=invalid_token'])).toEqual([
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      { scheme: 'bearer', params: { realm: 'https://a/t', error: 'invalid_token' } },
    ]);
    expect(parseWwwAuthenticate('Basic realm="a\\"b", Bearer realm="x"')).toEqual([
      { scheme: 'basic', params: { realm: 'a"b' } },
      { scheme: 'bearer', params: { realm: 'x' } },
    ]);
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
  });

  it('checks listImageBlobs descriptors', async () => {
    const f = await fake({ kind: 'none' });
    putManifest(f, { schemaVersion: 2, config: { digest: 'sha512:abc', size: 1 }, layers: [] }, ManifestMediaType.OCI_MANIFEST, 'odd');
    const err = await rejection(listImageBlobs(f.host, 'app', 'odd', { client: clientFor(f) }));
    expect(err.code).toBe(ErrorCode.INVALID_DIGEST);
  });
});
