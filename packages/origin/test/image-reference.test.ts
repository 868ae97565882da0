import { ErrorCode } from '@shoal/core';
import { describe, expect, it } from 'vitest';
import { formatImageReference, parseImageReference } from '../src/index.ts';

const DIGEST = `sha256:${'0a'.repeat(32)}`;

describe('parseImageReference', () => {
  it('follows Docker Hub conventions for short names', () => {
    expect(parseImageReference('ubuntu')).toEqual({ registry: 'docker.io', repository: 'library/ubuntu', reference: 'latest', tag: 'latest' });
    expect(parseImageReference('bitnami/redis:7.2')).toEqual({ registry: 'docker.io', repository: 'bitnami/redis', reference: '7.2', tag: '7.2' });
    expect(parseImageReference('index.docker.io/library/alpine:3')).toMatchObject({ registry: 'docker.io', repository: 'library/alpine' });
  });

  it('takes a first component with a dot, a port or localhost as the registry', () => {
    expect(parseImageReference('127.0.0.1:5000/team/app:v1')).toEqual({ registry: '127.0.0.1:5000', repository: 'team/app', reference: 'v1', tag: 'v1' });
    expect(parseImageReference('localhost/app')).toMatchObject({ registry: 'localhost', repository: 'app', reference: 'latest' });
    expect(parseImageReference('ghcr.io/org/model')).toMatchObject({ registry: 'ghcr.io', repository: 'org/model' });
  });

  it('asks by digest when there is one, keeping the tag for display', () => {
    expect(parseImageReference(`registry.example.com:443/app@${DIGEST}`)).toEqual({
      registry: 'registry.example.com:443',
      repository: 'app',
      reference: DIGEST,
      digest: DIGEST,
    });
    const both = parseImageReference(`registry.example.com/app:1.0@${DIGEST}`);
    expect(both).toMatchObject({ reference: DIGEST, tag: '1.0', digest: DIGEST });
    expect(formatImageReference(both)).toBe(`registry.example.com/app:1.0@${DIGEST}`);
  });

  it('refuses malformed references with INVALID_ARGUMENT', () => {
    for (const bad of ['', 'UPPER/case', 'app@sha256:abc', 'app:', 'reg.io/app:bad tag', 'reg.io/../etc', 'a'.repeat(600)]) {
      expect(() => parseImageReference(bad), bad).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    }
  });
});
