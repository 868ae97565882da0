import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, parseDigest } from '@shoal/core';
import { RegistryClient } from '@shoal/origin';
import { ClientAccess } from '../src/registry/index.ts';
import { type ScriptedRegistry, startScriptedRegistry } from './helpers/scripted-registry.ts';

const DIGEST = parseDigest(`sha256:${'b'.repeat(64)}`);
const GOOD = 'Basic Z29vZDpjcmVkcw==';

describe('client access checks', () => {
  let upstream: ScriptedRegistry | undefined;
  afterEach(async () => {
    await upstream?.close();
    upstream = undefined;
  });

  async function setup(options: { now?: () => number } = {}) {
    // Private repository: only GOOD may read; anything else gets a Basic challenge.
    upstream = await startScriptedRegistry((req, res) => {
      if (req.headers.authorization !== GOOD) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' }).end();
        return;
      }
      res.writeHead(200, { 'content-length': '1234' }).end();
    });
    const client = new RegistryClient({ endpoints: { [upstream.host]: upstream.url }, maxRedirects: 0 });
    const access = new ClientAccess({ client, allowTtlMs: 1000, denyTtlMs: 100, staleIfErrorMs: 5000, ...options });
    const check = (authorization: string | undefined) =>
      access.check({ registry: upstream!.host, repository: 'private/app', kind: 'blobs', digest: DIGEST, authorization });
    return { access, check, upstream };
  }

  it("asks the registry with the client's own Authorization, and passes its challenge on", async () => {
    const { check, upstream } = await setup();
    expect(await check(undefined)).toEqual({ allowed: false, status: 401, wwwAuthenticate: 'Basic realm="test"' });
    expect(await check('Basic d3Jvbmc6d3Jvbmc=')).toMatchObject({ allowed: false, status: 401 });
    expect(await check(GOOD)).toEqual({ allowed: true, size: 1234 });
    expect(upstream.seen.map((s) => [s.method, s.path, s.authorization])).toEqual([
      ['HEAD', `/v2/private/app/blobs/${DIGEST}`, undefined],
      ['HEAD', `/v2/private/app/blobs/${DIGEST}`, 'Basic d3Jvbmc6d3Jvbmc='],
      ['HEAD', `/v2/private/app/blobs/${DIGEST}`, GOOD],
    ]);
  });

  it('reuses an answer per client for a while, and asks again after', async () => {
    let now = 0;
    const { check, upstream } = await setup({ now: () => now });
    await Promise.all([check(GOOD), check(GOOD), check(GOOD)]);
    expect(upstream.seen).toHaveLength(1);
    now = 999;
    await check(GOOD);
    expect(upstream.seen).toHaveLength(1);
    // Another client is asked about separately.
    await check(undefined);
    expect(upstream.seen).toHaveLength(2);
    now = 1000;
    await check(GOOD);
    expect(upstream.seen).toHaveLength(3);
  });

  it('keeps serving a client it allowed a moment ago through a registry outage, and no one else', async () => {
    let now = 0;
    const { check, upstream } = await setup({ now: () => now });
    expect((await check(GOOD)).allowed).toBe(true);
    upstream.answer((_req, res) => res.writeHead(503).end());
    now = 2000;
    expect((await check(GOOD)).allowed).toBe(true);
    await expect(check('Bearer other-client')).rejects.toMatchObject({ code: ErrorCode.ORIGIN_UNAVAILABLE });
    now = 1000 + 5000;
    await expect(check(GOOD)).rejects.toMatchObject({ code: ErrorCode.ORIGIN_UNAVAILABLE });
  });

  it("takes a redirect to storage as the registry's yes, without following it", async () => {
    const { check, upstream } = await setup();
    upstream.answer((_req, res) => res.writeHead(307, { location: 'http://127.0.0.1:1/nowhere' }).end());
    expect(await check(undefined)).toEqual({ allowed: true, size: undefined });
    upstream.answer((_req, res) => res.writeHead(404).end());
    expect(await check('Bearer x')).toMatchObject({ allowed: false, status: 404 });
  });
});
