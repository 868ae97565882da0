import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type TestServer, serveBlob, startServer } from './blob-server.ts';

/** How the fake registry authenticates. */
export type FakeAuth =
  | { kind: 'none' }
  | { kind: 'basic'; username: string; password: string }
  /** Bearer tokens from `/token`; credentials required there when given, anonymous otherwise. */
  | { kind: 'bearer'; username?: string; password?: string; expiresIn?: number };

export interface FakeRegistry {
  registry: TestServer;
  storage: TestServer;
  /** `127.0.0.1:PORT` */
  host: string;
  blobs: Map<string, Buffer>;
  manifests: Map<string, { body: Buffer; mediaType: string }>;
  /** Token requests seen, with their query and Authorization. */
  tokenRequests: Array<{ query: URLSearchParams; authorization: string | undefined }>;
  /** Tokens currently valid (drop them to simulate revocation). */
  tokens: Set<string>;
  close(): Promise<void>;
}

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

/**
 * A small registry on node:http speaking the parts of the distribution API the origin uses:
 * blobs (redirected to a separate "storage" server, as registries backed by S3 do),
 * manifests by tag or digest, and Basic or Bearer auth with a token endpoint.
 */
export async function startFakeRegistry(auth: FakeAuth, options: { redirect?: boolean } = {}): Promise<FakeRegistry> {
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, { body: Buffer; mediaType: string }>();
  const tokenRequests: FakeRegistry['tokenRequests'] = [];
  const tokens = new Set<string>();

  const storage = await startServer((req, res) => {
    const digest = new URL(req.url ?? '/', 'http://x').pathname.slice(1);
    const blob = blobs.get(digest);
    if (!blob) return void res.writeHead(404).end();
    serveBlob(req, res, blob);
  });

  let registryUrl = '';
  const authorized = (req: IncomingMessage, res: ServerResponse, repo: string): boolean => {
    const header = req.headers.authorization;
    if (auth.kind === 'none') return true;
    if (auth.kind === 'basic') {
      if (header === basic(auth.username, auth.password)) return true;
      res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"', 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return false;
    }
    if (header?.startsWith('Bearer ') && tokens.has(header.slice(7))) return true;
    res.writeHead(401, {
      'www-authenticate': `Bearer realm="${registryUrl}/token",service="fake-registry",scope="repository:${repo}:pull"`,
    });
    res.end();
    return false;
  };

  const registry = await startServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/token' && auth.kind === 'bearer') {
      tokenRequests.push({ query: url.searchParams, authorization: req.headers.authorization });
      if (auth.username !== undefined && req.headers.authorization !== basic(auth.username, auth.password ?? '')) {
        return void res.writeHead(401).end('{"details":"bad credentials"}');
      }
      const token = randomBytes(12).toString('hex');
      tokens.add(token);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token, ...(auth.expiresIn !== undefined ? { expires_in: auth.expiresIn } : {}) }));
      return;
    }
    const m = /^\/v2\/(.+)\/(blobs|manifests)\/([^/]+)$/.exec(url.pathname);
    if (!m) return void res.writeHead(404).end();
    const [, repo, kind, ref] = m as unknown as [string, string, string, string];
    if (!authorized(req, res, repo)) return;
    if (kind === 'blobs') {
      const blob = blobs.get(ref);
      if (!blob) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN"}]}');
      if (options.redirect === false) return serveBlob(req, res, blob);
      res.writeHead(307, { location: `${storage.url}/${ref}?X-Amz-Signature=presigned` }).end();
      return;
    }
    const manifest = manifests.get(ref);
    if (!manifest) return void res.writeHead(404).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
    const digest = `sha256:${createHash('sha256').update(manifest.body).digest('hex')}`;
    res.writeHead(200, {
      'content-type': manifest.mediaType,
      'content-length': manifest.body.length,
      'docker-content-digest': digest,
    });
    res.end(req.method === 'HEAD' ? undefined : manifest.body);
  });
  registryUrl = registry.url;

  return {
    registry,
    storage,
    host: new URL(registry.url).host,
    blobs,
    manifests,
    tokenRequests,
    tokens,
    close: async () => {
      await registry.close();
      await storage.close();
    },
  };
}

/** Adds a manifest under its digest and, optionally, a tag; returns the digest. */
export function putManifest(fake: FakeRegistry, doc: object, mediaType: string, tag?: string): string {
  const body = Buffer.from(JSON.stringify(doc));
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  fake.manifests.set(digest, { body, mediaType });
  if (tag) fake.manifests.set(tag, { body, mediaType });
  return digest;
}
