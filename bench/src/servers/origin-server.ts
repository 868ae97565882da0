/**
 * The origin of a benchmark rollout: blobs of an OCI-layout directory served over HTTP through
 * one capped link (a token bucket shared by every response, so the cap holds for the origin as
 * a whole, like a bucket's or a registry's egress), counting every byte it sends.
 *
 * It speaks just enough of two protocols for every system under test to read from it:
 * - `GET|HEAD /blobs/sha256:<hex>` (Range too): Shoal's seeder (`--origin-url`) and the
 *   direct-pull baseline;
 * - `GET /v2/`, `GET|HEAD /v2/<name>/blobs/sha256:<hex>`: the registry API as distribution's
 *   pull-through cache reads it.
 *
 * `GET /stats` answers `{ "bytes": N, "requests": N }`: the egress so far.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { TokenBucket } from '@shoal/core';

export interface OriginServerOptions {
  /** An OCI layout: blobs at `<dir>/blobs/sha256/<hex>`. */
  dir: string;
  /** The origin's link in bytes/s (0: unlimited). */
  rate: number;
  host?: string;
  port?: number;
}

const BLOB_PATH = /^\/(?:v2\/.+\/)?blobs\/sha256:([0-9a-f]{64})$/;
/** Bytes read and sent at a time: small next to a second of any cap, large enough to be cheap. */
const CHUNK = 256 * 1024;

export class OriginServer {
  readonly #options: OriginServerOptions;
  readonly #bucket: TokenBucket;
  #server: Server | undefined;
  /** Bytes sent in response bodies. */
  bytes = 0;
  requests = 0;

  constructor(options: OriginServerOptions) {
    if (!(options.rate >= 0)) throw new RangeError(`origin rate must be >= 0 bytes/s, got ${options.rate}`);
    this.#options = options;
    this.#bucket = new TokenBucket(options.rate);
  }

  get url(): string {
    const address = this.#server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('origin server is not listening');
    return `http://${address.address}:${address.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500).end(String(err));
        else res.destroy();
      });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.port ?? 0, this.#options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    this.#bucket.close();
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/stats') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ bytes: this.bytes, requests: this.requests }));
      return;
    }
    if (path === '/v2/' || path === '/v2') {
      // The pull-through cache pings the API root for auth challenges before anything else.
      res.writeHead(200, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' }).end('{}');
      return;
    }
    const match = BLOB_PATH.exec(path);
    if (!match || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN"}]}');
      return;
    }
    const hex = match[1]!;
    const file = join(this.#options.dir, 'blobs', 'sha256', hex);
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN"}]}');
      return;
    }
    this.requests++;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const end = range ? (range[2] ? Math.min(size, Number(range[2]) + 1) : size) : size;
    if (range && start >= size) {
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    const headers: Record<string, string | number> = {
      'content-type': 'application/octet-stream',
      'content-length': end - start,
      'accept-ranges': 'bytes',
      'docker-content-digest': `sha256:${hex}`,
      etag: `"sha256:${hex}"`,
    };
    if (range) headers['content-range'] = `bytes ${start}-${end - 1}/${size}`;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD' || end === start) {
      res.end();
      return;
    }
    await this.#send(res, file, start, end);
  }

  /** Streams [start, end) of a file through the shared bucket, respecting the socket's backpressure. */
  async #send(res: ServerResponse, file: string, start: number, end: number): Promise<void> {
    const stream = createReadStream(file, { start, end: end - 1, highWaterMark: CHUNK });
    let closed = false;
    res.once('close', () => {
      closed = true;
      stream.destroy();
    });
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        await this.#bucket.consume(chunk.length);
        if (closed) return;
        this.bytes += chunk.length;
        if (!res.write(chunk)) await new Promise<void>((resolve) => {
          res.once('drain', resolve);
          res.once('close', resolve);
        });
      }
      res.end();
    } catch (err) {
      if (!closed) res.destroy(err as Error);
    }
  }
}
