/**
 * @shoal/origin against the real things: a CNCF distribution registry (anonymous, htpasswd
 * Basic auth, Bearer tokens from a token server, and S3 storage that answers blob GETs with a
 * redirect to presigned URLs) and s3rver for the S3 origin. (That credentials are dropped on
 * the redirect to storage is checked in packages/origin/test/registry.test.ts, where the
 * storage server can record headers.)
 */
import { createHash, createPrivateKey, sign } from 'node:crypto';
import { type IncomingMessage, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { type Digest, ErrorCode, ShoalError } from '@shoal/core';
import {
  HttpOrigin,
  RegistryClient,
  RegistryOrigin,
  S3Origin,
  fetchBlob,
  fetchManifest,
  listImageBlobs,
} from '@shoal/origin';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type PushedImage,
  type Registry,
  type S3Server,
  freePort,
  makeTempDir,
  pushMultiLayerImage,
  pushMultiPlatformIndex,
  removeDir,
  run,
  startProcess,
  startRegistry,
  startS3,
  waitFor,
} from './harness/index.ts';

const MiB = 1 << 20;
const CREDS = { username: 'shoal', password: 'origin-test-pw' };

async function rejection(promise: Promise<unknown>): Promise<ShoalError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ShoalError);
  return err as ShoalError;
}

/** Fetches a blob, reassembles it from onPiece, and checks it against its digest ourselves too. */
async function fetchAndCheck(origin: Parameters<typeof fetchBlob>[0], digest: string, source: Parameters<typeof fetchBlob>[2]) {
  const pieceLength = 1 * MiB;
  const hashes = new Map<number, string>();
  const stats = await fetchBlob(origin, digest as Digest, source, {
    pieceLength,
    concurrency: 4,
    chunkSize: 4 * MiB,
    onPiece: (i, bytes) => void hashes.set(i, createHash('sha256').update(bytes).digest('hex')),
  });
  expect(hashes.size).toBe(Math.ceil(stats.bytes / pieceLength));
  return stats;
}

/** Every regular file under a directory. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/**
 * A registry that authenticates with Bearer tokens: distribution's `auth.token` over an
 * existing storage directory, and a token server here that checks Basic credentials and
 * signs ES256 JWTs with a self-signed certificate the registry trusts (`x5c` header).
 */
async function startTokenRegistry(dataDir: string) {
  const dir = await makeTempDir('token-registry');
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=shoal-test-token', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ]);
  const key = createPrivateKey(await readFile(join(dir, 'key.pem')));
  const certPem = await readFile(join(dir, 'cert.pem'), 'utf8');
  const certDer = certPem.replace(/-----[^-]+-----|\s/g, '');
  const b64url = (v: object | Buffer) => (Buffer.isBuffer(v) ? v : Buffer.from(JSON.stringify(v))).toString('base64url');

  const tokenRequests: Array<{ scope: string[]; service: string | null; authorization: string | undefined }> = [];
  const expected = `Basic ${Buffer.from(`${CREDS.username}:${CREDS.password}`).toString('base64')}`;
  const tokenServer = createServer((req: IncomingMessage, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    tokenRequests.push({ scope: url.searchParams.getAll('scope'), service: url.searchParams.get('service'), authorization: req.headers.authorization });
    if (req.headers.authorization !== expected) return void res.writeHead(401).end('{"details":"access denied"}');
    const now = Math.floor(Date.now() / 1000);
    const access = url.searchParams.getAll('scope').map((s) => {
      const [type, name, actions] = s.split(':');
      return { type, name, actions: (actions ?? '').split(',') };
    });
    const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer] };
    const claims = { iss: 'shoal-test-issuer', sub: CREDS.username, aud: 'shoal-test-registry', exp: now + 300, nbf: now - 10, iat: now, jti: String(Math.random()), access };
    const input = `${b64url(header)}.${b64url(claims)}`;
    const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `${input}.${b64url(signature)}`, expires_in: 300 }));
  });
  await new Promise<void>((resolve) => tokenServer.listen(0, '127.0.0.1', resolve));
  const tokenUrl = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`;

  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config =
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${dataDir}\n` +
    `http:\n  addr: ${host}\n` +
    `auth:\n  token:\n    realm: ${tokenUrl}\n    service: shoal-test-registry\n    issuer: shoal-test-issuer\n` +
    `    rootcertbundle: ${join(dir, 'cert.pem')}\n`;
  await writeFile(join(dir, 'config.yml'), config);
  const proc = await startProcess({ name: 'token-registry', command: 'docker-registry', args: ['serve', join(dir, 'config.yml')] });
  await waitFor(
    async () => {
      const res = await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      return res.status === 401;
    },
    { what: `token registry at ${host}`, proc, timeoutMs: 30_000 },
  );
  return {
    host,
    url: `http://${host}`,
    tokenRequests,
    async stop() {
      await proc.stop();
      await new Promise<void>((resolve) => tokenServer.close(() => resolve()));
      await removeDir(dir);
    },
  };
}

/** A registry storing blobs in s3rver; blob GETs are answered with a 307 to a presigned S3 URL. */
async function startS3Registry(s3: S3Server, bucket: string) {
  const dir = await makeTempDir('s3-registry');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config =
    `version: 0.1\nlog:\n  level: error\n` +
    `storage:\n  s3:\n    accesskey: ${s3.credentials.accessKeyId}\n    secretkey: ${s3.credentials.secretAccessKey}\n` +
    `    region: us-east-1\n    regionendpoint: ${s3.endpoint}\n    bucket: ${bucket}\n    secure: false\n    v4auth: true\n` +
    `  redirect:\n    disable: false\n` +
    `http:\n  addr: ${host}\n`;
  await writeFile(join(dir, 'config.yml'), config);
  // The AWS SDK in the registry fails to start when AWS_CA_BUNDLE is set (as on CI images).
  const proc = await startProcess({
    name: 's3-registry',
    command: 'docker-registry',
    args: ['serve', join(dir, 'config.yml')],
    env: { AWS_CA_BUNDLE: undefined },
  });
  await waitFor(
    async () => {
      const res = await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      return res.status === 200;
    },
    { what: `s3-backed registry at ${host}`, proc, timeoutMs: 30_000 },
  );
  return {
    host,
    url: `http://${host}`,
    logTail: () => proc.logTail(30),
    async stop() {
      await proc.stop();
      await removeDir(dir);
    },
  };
}

describe('RegistryOrigin against distribution', () => {
  let open: Registry;
  let authed: Registry;
  let image: PushedImage;
  let authedImage: PushedImage;
  let token: Awaited<ReturnType<typeof startTokenRegistry>>;

  beforeAll(async () => {
    [open, authed] = await Promise.all([startRegistry(), startRegistry({ auth: CREDS })]);
    image = await pushMultiLayerImage(open, { bigLayerMiB: 24, repository: 'team/app', tag: 'v1' });
    authedImage = await pushMultiLayerImage(authed, { bigLayerMiB: 6, repository: 'team/private', tag: 'v1' });
    token = await startTokenRegistry(open.dataDir);
  });
  afterAll(async () => {
    await Promise.all([open?.stop(), authed?.stop(), token?.stop()]);
  });

  it('fetches a layer anonymously in parallel ranges, digest checked', async () => {
    const origin = new RegistryOrigin({ endpoints: { [open.host]: open.url } });
    const big = image.layers.reduce((a, b) => (a.size > b.size ? a : b));
    const stats = await fetchAndCheck(origin, big.digest, { kind: 'registry', registry: open.host, repository: 'team/app' });
    expect(stats.bytes).toBe(big.size);
    expect(stats.requests).toBeGreaterThan(4);
    expect(stats.retries).toBe(0);
  });

  it('lists an image blobs and fetches its manifest by tag and digest', async () => {
    const client = new RegistryClient({ endpoints: { [open.host]: open.url } });
    const list = await listImageBlobs(open.host, 'team/app', 'v1', { client });
    expect(list.digest).toBe(image.manifest.digest);
    expect(list.blobs.map((b) => b.digest)).toEqual([image.config.digest, ...image.layers.map((l) => l.digest)]);
    expect(list.blobs.map((b) => b.size)).toEqual([image.config.size, ...image.layers.map((l) => l.size)]);
    const byDigest = await fetchManifest(open.host, 'team/app', image.manifest.digest, { client });
    expect(byDigest.status).toBe(200);
    expect(byDigest.digest).toBe(image.manifest.digest);
    expect(byDigest.mediaType).toBe(image.manifest.mediaType);
    expect((await fetchManifest(open.host, 'team/app', 'no-such-tag', { client })).status).toBe(404);
  });

  it('walks a multi-platform index, for all platforms or one', async () => {
    const index = await pushMultiPlatformIndex(open, { repository: 'team/multi', tag: 'v1' });
    const client = new RegistryClient({ endpoints: { [open.host]: open.url } });
    const all = await listImageBlobs(open.host, 'team/multi', 'v1', { client });
    expect(all.digest).toBe(index.index.digest);
    const expectAll = new Set(index.images.flatMap((i) => [i.config.digest, ...i.layers.map((l) => l.digest)]));
    expect(new Set(all.blobs.map((b) => b.digest))).toEqual(expectAll);
    const arm = index.images.find((i) => i.platform.architecture === 'arm64')!;
    const one = await listImageBlobs(open.host, 'team/multi', 'v1', { client, platform: 'linux/arm64' });
    expect(one.blobs.map((b) => b.digest)).toEqual([arm.config.digest, ...arm.layers.map((l) => l.digest)]);
  });

  it('answers htpasswd Basic auth with configured credentials, and refuses clearly without', async () => {
    const source = { kind: 'registry', registry: authed.host, repository: 'team/private' } as const;
    const layer = authedImage.layers[1]!;
    const withCreds = new RegistryOrigin({
      endpoints: { [authed.host]: authed.url },
      credentials: new Map([[authed.host, CREDS]]),
    });
    expect((await fetchAndCheck(withCreds, layer.digest, source)).bytes).toBe(layer.size);
    const without = await rejection(new RegistryOrigin({ endpoints: { [authed.host]: authed.url } }).stat(layer.digest as Digest, source));
    expect(without.code).toBe(ErrorCode.ORIGIN_UNAUTHORIZED);
  });

  it('gets a Bearer token from the realm with Basic credentials, once, and pulls with it', async () => {
    const source = { kind: 'registry', registry: token.host, repository: 'team/app' } as const;
    const client = new RegistryClient({ endpoints: { [token.host]: token.url }, credentials: new Map([[token.host, CREDS]]) });
    const origin = new RegistryOrigin({ client });
    const big = image.layers.reduce((a, b) => (a.size > b.size ? a : b));
    const before = token.tokenRequests.length;
    expect((await fetchAndCheck(origin, big.digest, source)).bytes).toBe(big.size);
    const list = await listImageBlobs(token.host, 'team/app', 'v1', { client });
    expect(list.digest).toBe(image.manifest.digest);
    const mine = token.tokenRequests.slice(before);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.scope).toEqual(['repository:team/app:pull']);
    expect(mine[0]!.service).toBe('shoal-test-registry');

    const wrong = new RegistryOrigin({
      endpoints: { [token.host]: token.url },
      credentials: new Map([[token.host, { username: CREDS.username, password: 'wrong-pw' }]]),
    });
    const err = await rejection(wrong.stat(big.digest as Digest, source));
    expect(err.code).toBe(ErrorCode.ORIGIN_UNAUTHORIZED);
    expect(err.message).not.toContain('wrong-pw');
    const anonymous = await rejection(new RegistryOrigin({ endpoints: { [token.host]: token.url } }).stat(big.digest as Digest, source));
    expect(anonymous.code).toBe(ErrorCode.ORIGIN_UNAUTHORIZED);
  });
});

describe('origins on S3 (s3rver)', () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3({ buckets: ['blobs', 'registry'] });
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('S3Origin reads a blob under the distribution key layout, signed, and maps a missing one', async () => {
    const blob = Buffer.alloc(9 * MiB + 12345);
    for (let i = 0; i < blob.length; i += 997) blob[i] = (i * 31) & 0xff;
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}` as Digest;
    const hex = digest.slice(7);
    await s3.putObject('blobs', `docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`, blob);
    const origin = new S3Origin({ endpoint: s3.endpoint, bucket: 'blobs', region: 'us-east-1', credentials: s3.credentials });
    expect((await fetchAndCheck(origin, digest, undefined)).bytes).toBe(blob.length);
    // A source naming its own key.
    await s3.putObject('blobs', 'models/m.bin', blob);
    expect((await fetchAndCheck(origin, digest, { kind: 's3', key: 'models/m.bin' })).bytes).toBe(blob.length);
    const missing = await rejection(origin.stat(`sha256:${'0'.repeat(64)}` as Digest, undefined));
    expect(missing.code).toBe(ErrorCode.BLOB_UNKNOWN);
    // s3rver knows only its own access key.
    const stranger = new S3Origin({ endpoint: s3.endpoint, bucket: 'blobs', credentials: { accessKeyId: 'NOTME', secretAccessKey: 'x' } });
    expect((await rejection(stranger.stat(digest, undefined))).code).toBe(ErrorCode.ORIGIN_UNAUTHORIZED);
    // The same object by URL, as an HttpOrigin source.
    const viaUrl = await fetchAndCheck(new HttpOrigin(), digest, { kind: 'url', url: `${s3.objectUrl('blobs', 'models/m.bin')}?X-Amz-Expires=60` });
    expect(viaUrl.bytes).toBe(blob.length);
  });

  it('RegistryOrigin follows the redirect of an S3-backed registry to presigned S3 URLs', async () => {
    // s3rver lacks the multipart calls distribution's S3 driver pushes with, so the image is
    // pushed to a filesystem registry and its storage tree copied into the bucket as is: the
    // S3 driver reads the same layout.
    const staging = await startRegistry();
    let registry: Awaited<ReturnType<typeof startS3Registry>> | undefined;
    try {
      const pushed = await pushMultiLayerImage(staging, { bigLayerMiB: 12, repository: 'team/s3', tag: 'v1' });
      for (const file of await listFiles(staging.dataDir)) {
        await s3.putObject('registry', relative(staging.dataDir, file), await readFile(file));
      }
      registry = await startS3Registry(s3, 'registry');
      const big = pushed.layers.reduce((a, b) => (a.size > b.size ? a : b));
      const raw = await fetch(`${registry.url}/v2/team/s3/blobs/${big.digest}`, { redirect: 'manual' });
      await raw.body?.cancel();
      expect(raw.status).toBe(307);
      expect(raw.headers.get('location')).toContain(s3.endpoint);
      expect(raw.headers.get('location')).toContain('X-Amz-Signature=');
      const origin = new RegistryOrigin({ endpoints: { [registry.host]: registry.url } });
      const stats = await fetchAndCheck(origin, big.digest, { kind: 'registry', registry: registry.host, repository: 'team/s3' });
      expect(stats.bytes).toBe(big.size);
      const list = await listImageBlobs(registry.host, 'team/s3', 'v1', { client: origin.client });
      expect(list.digest).toBe(pushed.manifest.digest);
    } catch (e) {
      if (registry) console.log(registry.logTail());
      throw e;
    } finally {
      await Promise.all([staging.stop(), registry?.stop()]);
    }
  });
});
