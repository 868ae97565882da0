import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ErrorCode, isShoalError, parseDigest } from '@shoal/core';
import { ManifestCache, Upstreams, parseMirrorRequest, parseUpstreamConfig } from '../src/registry/index.ts';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isShoalError(err) ? err.code : 'not a ShoalError';
  }
  return undefined;
}

describe('upstream config', () => {
  it('maps registry hosts to URLs, canonicalising names and trimming slashes', () => {
    expect(
      parseUpstreamConfig({ 'Index.Docker.io': 'https://mirror.internal/', 'ghcr.io': 'https://ghcr.io', '127.0.0.1:5000': 'http://127.0.0.1:5000' }),
    ).toEqual({ 'docker.io': 'https://mirror.internal', 'ghcr.io': 'https://ghcr.io', '127.0.0.1:5000': 'http://127.0.0.1:5000' });
  });

  it('refuses what cannot work, naming the entry', () => {
    expect(code(() => parseUpstreamConfig([]))).toBe(ErrorCode.INVALID_CONFIG);
    expect(code(() => parseUpstreamConfig({ 'bad host/x': 'https://x' }))).toBe(ErrorCode.INVALID_CONFIG);
    expect(code(() => parseUpstreamConfig({ 'ghcr.io': 42 }))).toBe(ErrorCode.INVALID_CONFIG);
    expect(code(() => parseUpstreamConfig({ 'ghcr.io': 'ftp://ghcr.io' }))).toBe(ErrorCode.INVALID_CONFIG);
    // Credentials belong in the credentials file, not in a URL that ends up in logs.
    expect(() => parseUpstreamConfig({ 'ghcr.io': 'https://user:pw@ghcr.io' })).toThrow(/without user/);
  });

  it('resolves ns to an upstream: configured, Docker Hub, else https://<host>; no ns is the default registry', () => {
    const upstreams = new Upstreams({ '127.0.0.1:5000': 'http://127.0.0.1:5000' });
    expect(upstreams.registryFor('127.0.0.1:5000')).toBe('127.0.0.1:5000');
    expect(upstreams.registryFor(null)).toBe('docker.io');
    expect(upstreams.registryFor('registry-1.docker.io')).toBe('docker.io');
    expect(upstreams.endpoint('docker.io')).toBe('https://registry-1.docker.io');
    expect(upstreams.endpoint('127.0.0.1:5000')).toBe('http://127.0.0.1:5000');
    expect(upstreams.endpoint('quay.io')).toBe('https://quay.io');
    expect(code(() => upstreams.registryFor('../etc'))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(new Upstreams({}, 'ghcr.io').registryFor('')).toBe('ghcr.io');
  });

  it('serves every registry, or with an allow-list only those and the default one', () => {
    expect(new Upstreams({}).allows('random-1234.example')).toBe(true);
    const upstreams = new Upstreams({}, 'ghcr.io', ['Index.Docker.io', '127.0.0.1:5000']);
    expect(upstreams.allows('docker.io')).toBe(true);
    expect(upstreams.allows('127.0.0.1:5000')).toBe(true);
    expect(upstreams.allows('ghcr.io')).toBe(true);
    expect(upstreams.allows('quay.io')).toBe(false);
    expect(code(() => new Upstreams({}, 'docker.io', ['bad host/x']))).toBe(ErrorCode.INVALID_CONFIG);
  });

  it('labels only configured registries by name, so clients cannot grow the metrics', () => {
    const upstreams = new Upstreams({ 'ghcr.io': 'https://ghcr.io' });
    expect(upstreams.label('ghcr.io')).toBe('ghcr.io');
    expect(upstreams.label('docker.io')).toBe('docker.io');
    expect(upstreams.label('random-1234.example')).toBe('other');
  });
});

describe('mirror request paths', () => {
  const upstreams = new Upstreams({ '127.0.0.1:5000': 'http://127.0.0.1:5000' });
  const req = (authorization?: string) => ({ headers: authorization === undefined ? {} : { authorization } }) as IncomingMessage;
  const parse = (path: string, authorization?: string) => {
    const [p, q] = path.split('?');
    return parseMirrorRequest(req(authorization), p!, new URLSearchParams(q ?? ''), upstreams);
  };

  it('reads the repository, kind, reference and registry', () => {
    expect(parse('/v2/team/app/sub/manifests/v1.2?ns=127.0.0.1:5000', 'Bearer t')).toEqual({
      kind: 'manifests',
      registry: '127.0.0.1:5000',
      repository: 'team/app/sub',
      reference: 'v1.2',
      authorization: 'Bearer t',
      label: '127.0.0.1:5000',
    });
    const digest = parseDigest(`sha256:${'a'.repeat(64)}`);
    expect(parse(`/v2/ubuntu/blobs/${digest}?ns=docker.io`)).toMatchObject({ kind: 'blobs', repository: 'library/ubuntu', reference: digest, authorization: undefined });
    // A repository may itself contain "blobs" or "manifests".
    expect(parse(`/v2/a/blobs/b/blobs/${digest}?ns=ghcr.io`)).toMatchObject({ repository: 'a/blobs/b', label: 'other' });
  });

  it('leaves other paths to a 404 and refuses malformed names', () => {
    expect(parse('/v2/app/tags/list')).toBeUndefined();
    expect(parse('/v2/app/blobs/uploads/')).toBeUndefined();
    expect(code(() => parse('/v2/UPPER/manifests/v1'))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => parse('/v2/a%2Fb/manifests/v1'))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => parse('/v2/app/manifests/v1?ns=not a host'))).toBe(ErrorCode.INVALID_ARGUMENT);
  });
});

describe('manifest cache', () => {
  const digest = (c: string) => parseDigest(`sha256:${c.repeat(64)}`);
  const manifest = (c: string, bytes: number) => ({ digest: digest(c), mediaType: 'application/vnd.oci.image.manifest.v1+json', body: Buffer.alloc(bytes) });

  it('keeps manifests by digest until they expire', () => {
    let now = 0;
    const cache = new ManifestCache({ ttlMs: 1000, now: () => now });
    cache.set(manifest('a', 10));
    expect(cache.get(digest('a'))?.body.length).toBe(10);
    now = 999;
    expect(cache.get(digest('a'))).toBeDefined();
    now = 1000;
    expect(cache.get(digest('a'))).toBeUndefined();
    expect(cache.bytes).toBe(0);
  });

  it('drops the least recently used beyond its byte budget, and never holds one larger than it', () => {
    const cache = new ManifestCache({ maxBytes: 100 });
    cache.set(manifest('a', 40));
    cache.set(manifest('b', 40));
    cache.get(digest('a'));
    cache.set(manifest('c', 40));
    expect(cache.get(digest('b'))).toBeUndefined();
    expect(cache.get(digest('a'))).toBeDefined();
    expect(cache.get(digest('c'))).toBeDefined();
    expect(cache.bytes).toBe(80);
    cache.set(manifest('d', 101));
    expect(cache.get(digest('d'))).toBeUndefined();
    expect(cache.bytes).toBe(80);
  });
});
