import { ErrorCode, parseDigest } from '@shoal/core';
import { DirectoryOrigin, HttpOrigin, RegistryOrigin, S3Origin } from '@shoal/origin';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { program } from '../src/program.ts';
import { buildTrackerOrigins } from '../src/tracker-origins.ts';

const HEX = 'ab'.repeat(32);
const DIGEST = parseDigest(`sha256:${HEX}`);

function sub(command: Command, name: string): Command {
  const found = command.commands.find((c) => c.name() === name);
  if (!found) throw new Error(`no ${name} command`);
  return found;
}

describe('shoal tracker', () => {
  it('has the origin, replica and store flags, each with its environment twin', () => {
    const tracker = sub(program(), 'tracker');
    const flags = tracker.options.map((o) => o.long?.slice(2));
    expect(flags).toEqual(
      expect.arrayContaining([
        's3-bucket', 's3-endpoint', 's3-region', 's3-key-template', 's3-addressing', 's3-access-key-id', 's3-secret-access-key', 's3-session-token',
        'replicas', 'replicas-dns', 'seed-idle', 'store-high-watermark', 'store-low-watermark', 'origin-dir', 'origin-url', 'registry-endpoint', 'credentials',
      ]),
    );
    const env = Object.fromEntries(tracker.options.map((o) => [o.long, o.envVar]));
    expect(env['--s3-secret-access-key']).toBe('SHOAL_S3_SECRET_ACCESS_KEY');
    expect(env['--replicas']).toBe('SHOAL_REPLICAS');
  });

  it('builds the origins in the documented order: directory, S3, HTTP, registry', () => {
    const { origins, registry } = buildTrackerOrigins({ originDir: '/models', s3Bucket: 'blobs', originUrl: 'https://cdn.example/{hex}' });
    expect(origins.map((o) => o.constructor)).toEqual([DirectoryOrigin, S3Origin, HttpOrigin, RegistryOrigin]);
    expect(registry).toBe((origins[3] as RegistryOrigin).client);
    expect(buildTrackerOrigins({}).origins.map((o) => o.kind)).toEqual(['http', 'registry']);
  });

  it('addresses S3 path-style or virtual-hosted, under the registry layout or a key template', () => {
    const [minio] = buildTrackerOrigins({ s3Bucket: 'layers', s3Endpoint: 'http://minio:9000' }).origins as [S3Origin];
    expect(minio.objectUrl('layers', minio.keyOf(DIGEST)).href).toBe(
      `http://minio:9000/layers/docker/registry/v2/blobs/sha256/ab/${HEX}/data`,
    );
    const [aws] = buildTrackerOrigins({
      s3Bucket: 'models',
      s3Region: 'eu-west-1',
      s3KeyTemplate: 'weights/{digest}',
      s3AccessKeyId: 'AKIDEXAMPLE',
      s3SecretAccessKey: 'secret',
    }).origins as [S3Origin];
    expect(aws.objectUrl('models', aws.keyOf(DIGEST)).href).toBe(`https://models.s3.eu-west-1.amazonaws.com/weights/sha256%3A${HEX}`);
    expect(aws.signedHeaders('GET', new URL('https://models.s3.eu-west-1.amazonaws.com/x')).Authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/s3\/aws4_request/,
    );
    const [forced] = buildTrackerOrigins({ s3Bucket: 'models', s3Addressing: 'path' }).origins as [S3Origin];
    expect(forced.objectUrl('models', 'k').href).toBe('https://s3.us-east-1.amazonaws.com/models/k');
  });

  it('refuses S3 settings that cannot work, saying which', () => {
    expect(() => buildTrackerOrigins({ s3Endpoint: 'http://minio:9000' })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_CONFIG, message: '--s3-endpoint needs --s3-bucket' }));
    expect(() => buildTrackerOrigins({ s3Bucket: 'b-1', s3AccessKeyId: 'id' })).toThrow(/both --s3-access-key-id and --s3-secret-access-key/);
    expect(() => buildTrackerOrigins({ s3Bucket: 'B' })).toThrow(/valid bucket name/);
  });
});
