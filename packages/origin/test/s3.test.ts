import { type Digest, ErrorCode, ShoalError } from '@shoal/core';
import { afterEach, describe, expect, it } from 'vitest';
import { S3Origin, encodeS3Key, fetchBlob, signSigV4 } from '../src/index.ts';
import { type TestServer, digestOf, serveBlob, startServer, testBlob } from './helpers/blob-server.ts';
import { verifySigV4 } from './helpers/sigv4-verify.ts';

/**
 * Vectors from AWS's SigV4 test suite (aws-sig-v4-test-suite: get-vanilla,
 * get-vanilla-query-order-key-case, get-unreserved): example credentials, region us-east-1,
 * service "service", 2015-08-30T12:36:00Z, host example.amazonaws.com.
 */
const SUITE_CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const SUITE_DATE = new Date('2015-08-30T12:36:00Z');
const SCOPE = 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date';
const VECTORS = [
  {
    name: 'get-vanilla',
    path: '/',
    authorization: `${SCOPE}, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31`,
  },
  {
    name: 'get-vanilla-query-order-key-case',
    path: '/?Param2=value2&Param1=value1',
    authorization: `${SCOPE}, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500`,
  },
  {
    name: 'get-unreserved',
    path: '/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
    authorization: `${SCOPE}, Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f`,
  },
];

describe('SigV4 signing (AWS test suite vectors)', () => {
  for (const vector of VECTORS) {
    it(vector.name, () => {
      // The same call S3Origin makes, with the suite's service name instead of 's3'.
      const headers = signSigV4(
        { method: 'GET', url: new URL(`https://example.amazonaws.com${vector.path}`), region: 'us-east-1', service: 'service', date: SUITE_DATE },
        SUITE_CREDENTIALS,
      );
      expect(headers.Authorization).toBe(vector.authorization);
      expect(headers['X-Amz-Date']).toBe('20150830T123600Z');
    });
  }
});

let servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

describe('S3Origin', () => {
  const credentials = { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret/key+example', sessionToken: 'session-token-example' };

  it('sends signed requests of the expected shape, which verify as S3 would', async () => {
    const blob = testBlob(300_000);
    const digest = digestOf(blob);
    const verdicts: Array<ReturnType<typeof verifySigV4>> = [];
    const s = await startServer((req, res) => {
      verdicts.push(verifySigV4(req, credentials.secretAccessKey));
      serveBlob(req, res, blob);
    });
    servers.push(s);
    const origin = new S3Origin({ endpoint: s.url, bucket: 'blobs', region: 'eu-west-1', credentials });
    const stats = await fetchBlob(origin, digest, undefined, { pieceLength: 64 * 1024, chunkSize: 128 * 1024 });
    expect(stats.bytes).toBe(blob.length);

    const hex = digest.slice(7);
    expect(s.requests[0]!.method).toBe('HEAD');
    for (const r of s.requests) {
      expect(r.url).toBe(`/blobs/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`);
      expect(r.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
      // The sha256 of the empty body: GETs and HEADs have none.
      expect(r.headers['x-amz-content-sha256']).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
      expect(r.headers['x-amz-security-token']).toBe(credentials.sessionToken);
      const date = String(r.headers['x-amz-date']).slice(0, 8);
      expect(r.headers.authorization).toMatch(
        new RegExp(
          `^AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/${date}/eu-west-1/s3/aws4_request, ` +
            'SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$',
        ),
      );
    }
    expect(s.requests.filter((r) => r.method === 'GET').every((r) => /^bytes=\d+-\d+$/.test(r.range ?? ''))).toBe(true);
    expect(verdicts.every((v) => v.ok)).toBe(true);
  });

  it('signs with a fixed clock exactly as the verifier expects, and never with a wrong secret', async () => {
    const seen: Array<ReturnType<typeof verifySigV4>> = [];
    const s = await startServer((req, res) => {
      seen.push(verifySigV4(req, 'another secret'));
      res.writeHead(200, { 'content-length': 5 }).end();
    });
    servers.push(s);
    const origin = new S3Origin({ endpoint: s.url, bucket: 'blobs', credentials, now: () => new Date('2024-01-02T03:04:05Z') });
    const info = await origin.stat(digestOf(Buffer.from('x')), undefined);
    expect(info.size).toBe(5);
    expect(s.requests[0]!.headers['x-amz-date']).toBe('20240102T030405Z');
    expect(seen[0]!.ok).toBe(false);
  });

  it('reads a source key, refuses buckets it was not given, and maps 404 and 403', async () => {
    const blob = testBlob(1000);
    const s = await startServer((req, res) => {
      if (req.url === '/blobs/models/llama%20v2/weights.bin') return serveBlob(req, res, blob);
      if (req.url?.startsWith('/blobs/forbidden')) return void res.writeHead(403).end();
      res.writeHead(404).end();
    });
    servers.push(s);
    const origin = new S3Origin({ endpoint: s.url, bucket: 'blobs' });
    const digest = digestOf(blob);
    await fetchBlob(origin, digest, { kind: 's3', key: 'models/llama v2/weights.bin' }, {});
    expect(s.requests.every((r) => r.headers.authorization === undefined)).toBe(true); // no credentials: unsigned

    const other = await origin.stat(digest, { kind: 's3', bucket: 'elsewhere', key: 'k' }).catch((e: ShoalError) => e);
    expect((other as ShoalError).code).toBe(ErrorCode.ORIGIN_UNAUTHORIZED);
    const missing = await origin.stat(digest, undefined).catch((e: ShoalError) => e);
    expect((missing as ShoalError).code).toBe(ErrorCode.BLOB_UNKNOWN);
    const denied = await origin.stat(digest, { kind: 's3', key: 'forbidden/x' }).catch((e: ShoalError) => e);
    expect((denied as ShoalError).code).toBe(ErrorCode.ORIGIN_UNAUTHORIZED);
  });

  it('builds path-style and virtual-hosted URLs and keys from the template', () => {
    const digest = `sha256:${'ab'.repeat(32)}` as Digest;
    const path = new S3Origin({ endpoint: 'http://127.0.0.1:9000', bucket: 'reg', keyTemplate: 'blobs/{hex2}/{digest}' });
    expect(path.keyOf(digest)).toBe(`blobs/ab/${digest}`);
    expect(path.objectUrl('reg', path.keyOf(digest)).href).toBe(`http://127.0.0.1:9000/reg/blobs/ab/sha256%3A${'ab'.repeat(32)}`);
    const aws = new S3Origin({ region: 'eu-west-1', bucket: 'my-bucket' });
    expect(aws.objectUrl('my-bucket', 'a/b c').href).toBe('https://my-bucket.s3.eu-west-1.amazonaws.com/a/b%20c');
    expect(encodeS3Key("it's (all) *here*!")).toBe('it%27s%20%28all%29%20%2Ahere%2A%21');
    expect(() => new S3Origin({ bucket: 'Bad_Bucket' })).toThrow(/bucket/);
    expect(() => new S3Origin({ bucket: 'ok-bucket', keyTemplate: 'fixed' })).toThrow(/keyTemplate/);
  });
});
