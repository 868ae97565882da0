/**
 * A real S3 REST API server (npm `s3rver`) in its own process on 127.0.0.1, with buckets
 * created at start and data under a temp dir.
 *
 * s3rver's auth model, which tests must know: unsigned (anonymous) requests are accepted;
 * signed requests must use access key id `S3RVER` (secret `S3RVER`) or they fail with
 * InvalidAccessKeyId; SigV4 signatures are NOT checked (V2 ones are). So a SigV4 signer cannot
 * be validated against s3rver — use AWS's published test vectors for that.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { freePort, makeTempDir, removeDir, retryOnPortClash, startProcess, waitFor, type ManagedProcess } from './process.ts';

/** The only credentials s3rver knows. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', region: 'us-east-1' } as const;

/** Options for {@link startS3}. */
export interface S3Options {
  /** Buckets to create at start. */
  buckets?: string[];
  readyTimeoutMs?: number;
}

/** A running S3 API server. */
export interface S3Server {
  /** `http://127.0.0.1:PORT` (path-style: `${endpoint}/${bucket}/${key}`). */
  endpoint: string;
  host: string;
  port: number;
  /** Credentials s3rver accepts (see module doc). */
  credentials: typeof S3RVER_CREDENTIALS;
  dir: string;
  process: ManagedProcess;
  /** `${endpoint}/${bucket}/${key}` with the key's path segments URI-encoded. */
  objectUrl(bucket: string, key: string): string;
  /** Unsigned PUT of an object; throws on a non-2xx answer. Returns the ETag. */
  putObject(bucket: string, key: string, body: Uint8Array | string, contentType?: string): Promise<string>;
  /** Unsigned GET (optionally ranged, e.g. `bytes=0-99`); throws on a non-2xx answer. */
  getObject(bucket: string, key: string, range?: string): Promise<Buffer>;
  /** Creates a bucket after start (unsigned PUT /bucket). */
  createBucket(bucket: string): Promise<void>;
  stop(): Promise<void>;
}

function s3rverBin(): string {
  return createRequire(import.meta.url).resolve('s3rver/bin/s3rver.js');
}

/**
 * Starts s3rver (`s3rver -d DIR -a 127.0.0.1 -p PORT --configure-bucket NAME...`) with the
 * same Node binary that runs the tests (its shebang would pick the system Node).
 */
export async function startS3(opts: S3Options = {}): Promise<S3Server> {
  return retryOnPortClash(() => startS3Once(opts));
}

async function startS3Once(opts: S3Options): Promise<S3Server> {
  const dir = await makeTempDir('s3');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const endpoint = `http://${host}`;
  const args = [s3rverBin(), '-d', join(dir, 'data'), '-a', '127.0.0.1', '-p', String(port), '--no-vhost-buckets'];
  for (const b of opts.buckets ?? []) args.push('--configure-bucket', b);

  let proc: ManagedProcess;
  try {
    proc = await startProcess({ name: 's3rver', command: process.execPath, args });
  } catch (e) {
    await removeDir(dir);
    throw e;
  }
  const objectUrl = (bucket: string, key: string) =>
    `${endpoint}/${encodeURIComponent(bucket)}/${key.split('/').map(encodeURIComponent).join('/')}`;

  const server: S3Server = {
    endpoint,
    host,
    port,
    credentials: S3RVER_CREDENTIALS,
    dir,
    process: proc,
    objectUrl,
    async putObject(bucket, key, body, contentType = 'application/octet-stream') {
      const res = await fetch(objectUrl(bucket, key), { method: 'PUT', body, headers: { 'content-type': contentType } });
      const text = await res.text();
      if (!res.ok) throw new Error(`s3 PUT ${bucket}/${key}: ${res.status} ${text}`);
      return res.headers.get('etag') ?? '';
    },
    async getObject(bucket, key, range) {
      const res = await fetch(objectUrl(bucket, key), range ? { headers: { range } } : {});
      const buf = Buffer.from(await res.arrayBuffer());
      if (!res.ok) throw new Error(`s3 GET ${bucket}/${key}: ${res.status} ${buf.toString()}`);
      return buf;
    },
    async createBucket(bucket) {
      const res = await fetch(`${endpoint}/${encodeURIComponent(bucket)}`, { method: 'PUT' });
      const text = await res.text();
      if (!res.ok) throw new Error(`s3 create bucket ${bucket}: ${res.status} ${text}`);
    },
    async stop() {
      await proc.stop();
      await removeDir(dir);
    },
  };

  try {
    // Any HTTP answer means it listens; the buckets are configured before listen().
    await waitFor(
      async () => {
        const res = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(2000) });
        await res.body?.cancel();
        return true;
      },
      { what: `s3rver at ${host}`, proc, timeoutMs: opts.readyTimeoutMs ?? 30_000 },
    );
  } catch (e) {
    await server.stop();
    throw e;
  }
  return server;
}
