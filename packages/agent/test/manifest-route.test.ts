import { createHash } from 'node:crypto';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, requestTarget } from '@shoal/core';
import { RegistryClient } from '@shoal/origin';
import { ClientAccess, ManifestCache, ManifestRoute, Upstreams, parseMirrorRequest } from '../src/registry/index.ts';
import { type ScriptedRegistry, startScriptedRegistry } from './helpers/scripted-registry.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const BODY = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: {}, layers: [] }));
const DIGEST = `sha256:${createHash('sha256').update(BODY).digest('hex')}`;
const TOKEN = 'Bearer t0ken';

describe('manifest route', () => {
  let upstream: ScriptedRegistry;
  let server: Server;
  let mirror: string;
  let body = BODY;

  beforeEach(async () => {
    body = BODY;
    // A private repository: the manifest by tag or digest, for TOKEN only.
    upstream = await startScriptedRegistry((req, res) => {
      if (req.headers.authorization !== TOKEN) {
        res.writeHead(401, { 'www-authenticate': 'Bearer realm="https://auth.example/token",service="test"', 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
      if (!/\/manifests\/(v1|sha256:[0-9a-f]{64})$/.test(req.url ?? '')) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
        return;
      }
      res.writeHead(200, { 'content-type': OCI_MANIFEST, 'content-length': String(body.length), 'docker-content-digest': DIGEST });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    const endpoints = { [upstream.host]: upstream.url };
    const upstreams = new Upstreams(endpoints);
    const route = new ManifestRoute({
      client: new RegistryClient({ endpoints }),
      cache: new ManifestCache(),
      access: new ClientAccess({ client: new RegistryClient({ endpoints, maxRedirects: 0 }) }),
      logger: createLogger({ level: 'silent' }),
    });
    server = createServer((req, res) => {
      const { path, query } = requestTarget(req);
      const request = parseMirrorRequest(req, path, query, upstreams)!;
      void route.handle(req, res, request, new AbortController().signal);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await upstream.close();
  });

  const get = (reference: string, headers: Record<string, string> = {}, method = 'GET') =>
    fetch(`${mirror}/v2/team/app/manifests/${reference}?ns=${upstream.host}`, { method, headers });

  it('proxies a tag with the client credentials and Accept, and answers with type, digest and length', async () => {
    const accept = `${OCI_MANIFEST}, application/vnd.oci.image.index.v1+json`;
    const res = await get('v1', { authorization: TOKEN, accept });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(OCI_MANIFEST);
    expect(res.headers.get('docker-content-digest')).toBe(DIGEST);
    expect(res.headers.get('content-length')).toBe(String(BODY.length));
    expect(Buffer.from(await res.arrayBuffer()).equals(BODY)).toBe(true);
    expect(upstream.seen).toEqual([{ method: 'GET', path: '/v2/team/app/manifests/v1', authorization: TOKEN, accept }]);

    const head = await get('v1', { authorization: TOKEN }, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers.get('docker-content-digest')).toBe(DIGEST);
    expect(head.headers.get('content-length')).toBe(String(BODY.length));
    expect(upstream.seen.at(-1)?.method).toBe('HEAD');
  });

  it('passes the registry 401 and its challenge on, body included', async () => {
    const res = await get('v1');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="https://auth.example/token",service="test"');
    expect(await res.json()).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
    expect((await get('v2', { authorization: TOKEN })).status).toBe(404);
  });

  it('answers a digest it has seen from the cache after a HEAD upstream, and only to clients the registry allows', async () => {
    expect((await get('v1', { authorization: TOKEN })).status).toBe(200);
    upstream.seen.length = 0;
    const cached = await get(DIGEST, { authorization: TOKEN });
    expect(cached.status).toBe(200);
    expect(Buffer.from(await cached.arrayBuffer()).equals(BODY)).toBe(true);
    expect(upstream.seen.map((s) => s.method)).toEqual(['HEAD']);

    const anonymous = await get(DIGEST);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
    expect(await anonymous.text()).not.toContain('schemaVersion');
  });

  it('refuses a manifest whose bytes do not match the digest asked for, and does not keep it', async () => {
    body = Buffer.from('{"schemaVersion":2,"tampered":true}');
    const res = await get(DIGEST, { authorization: TOKEN });
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ errors: [{ code: 'UNAVAILABLE' }] });
    body = BODY;
    upstream.seen.length = 0;
    expect((await get(DIGEST, { authorization: TOKEN })).status).toBe(200);
    expect(upstream.seen.map((s) => s.method)).toEqual(['GET']);
  });

  it('answers 502 when the registry cannot be reached, and 400 for a malformed reference', async () => {
    await upstream.close();
    const res = await get('v1', { authorization: TOKEN });
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ errors: [{ code: 'UNAVAILABLE' }] });
    expect((await get('bad%20tag')).status).toBe(400);
  });
});
