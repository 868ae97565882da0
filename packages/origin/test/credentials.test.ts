import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, ShoalError } from '@shoal/core';
import { afterEach, describe, expect, it } from 'vitest';
import { fileCredentialsProvider, loadRegistryCredentials, parseRegistryCredentials } from '../src/index.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});
function tempFile(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-creds-'));
  dirs.push(dir);
  const path = join(dir, 'credentials.json');
  writeFileSync(path, content);
  return path;
}

describe('registry credentials file', () => {
  it('reads our format and Docker config.json (a dockerconfigjson Secret) alike', () => {
    const creds = parseRegistryCredentials({
      registries: {
        'registry.example.com': { username: 'puller', password: 'p1' },
        'ghcr.io': { auth: b64('octo:ghp_token:with:colons') },
      },
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hubuser:hubpass') },
        'ghcr.io': { username: 'overridden', password: 'x' },
        '127.0.0.1:5000': { username: 'local', password: 'l' },
      },
    });
    expect(creds.get('registry.example.com')).toEqual({ username: 'puller', password: 'p1' });
    expect(creds.get('ghcr.io')).toEqual({ username: 'octo', password: 'ghp_token:with:colons' });
    expect(creds.get('docker.io')).toEqual({ username: 'hubuser', password: 'hubpass' });
    expect(creds.get('127.0.0.1:5000')).toEqual({ username: 'local', password: 'l' });
  });

  it('fails with INVALID_CONFIG naming the entry, never its secret', () => {
    const bad = [
      [],
      { nothing: {} },
      { registries: { 'r.io': { username: 'u' } } },
      { registries: { 'r.io': { auth: b64('no-colon-s3cret') } } },
      { registries: { 'bad host': { username: 'u', password: 'pw' } } },
    ];
    for (const doc of bad) {
      let err: unknown;
      try {
        parseRegistryCredentials(doc);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ShoalError);
      expect((err as ShoalError).code).toBe(ErrorCode.INVALID_CONFIG);
      expect((err as ShoalError).message).not.toContain('s3cret');
    }
    const notJson = tempFile('{"registries": {"r.io": {"password": "s3cret"');
    expect(() => loadRegistryCredentials(notJson)).toThrow(/not valid JSON/);
    try {
      loadRegistryCredentials(notJson);
    } catch (e) {
      expect((e as Error).message).not.toContain('s3cret');
    }
  });

  it('picks up a rotated Secret and keeps the last good one through a broken update', () => {
    const path = tempFile(JSON.stringify({ registries: { 'r.io': { username: 'u', password: 'one' } } }));
    let now = 0;
    const provider = fileCredentialsProvider(path, { checkIntervalMs: 1000, now: () => now });
    expect(provider('r.io')?.password).toBe('one');
    writeFileSync(path, JSON.stringify({ registries: { 'r.io': { username: 'u', password: 'two' } } }));
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    expect(provider('r.io')?.password).toBe('one'); // not checked yet
    now += 1000;
    expect(provider('r.io')?.password).toBe('two');
    writeFileSync(path, '{ broken');
    utimesSync(path, new Date(), new Date(Date.now() + 10_000));
    now += 1000;
    expect(provider('r.io')?.password).toBe('two');
    expect(provider('other.io')).toBeUndefined();
  });
});
