import { createHash } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Digest } from '@shoal/core';

/** A request as the test server saw it. */
export interface SeenRequest {
  method: string;
  url: string;
  range: string | undefined;
  headers: IncomingMessage['headers'];
}

/** A node:http server on 127.0.0.1, port 0, that records requests. */
export interface TestServer {
  url: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, seen: SeenRequest[]) => void;

export async function startServer(handler: Handler): Promise<TestServer> {
  const requests: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', range: req.headers.range, headers: req.headers });
    handler(req, res, requests);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function digestOf(bytes: Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
}

/** Deterministic pseudo-random bytes (so a shifted or repeated range never hashes right by accident). */
export function testBlob(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Parses `bytes=a-b` / `bytes=a-` against a size. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  const m = header ? /^bytes=(\d+)-(\d*)$/.exec(header) : null;
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = m[2] === '' ? size : Math.min(size, Number(m[2]) + 1);
  return { start, end };
}

export interface ServeOptions {
  /** Answer 200 with the whole blob even to ranged requests. */
  ignoreRange?: boolean;
  /** Answer HEAD with this status (presigned URLs: 403). */
  headStatus?: number;
  /** Leave out Accept-Ranges. */
  noAcceptRanges?: boolean;
}

/** Serves `blob` for GET/HEAD, with Range. */
export function serveBlob(req: IncomingMessage, res: ServerResponse, blob: Buffer, options: ServeOptions = {}): void {
  if (req.method === 'HEAD' && options.headStatus) {
    res.writeHead(options.headStatus).end();
    return;
  }
  const range = options.ignoreRange ? undefined : parseRange(req.headers.range, blob.length);
  const base: Record<string, string | number> = options.noAcceptRanges ? {} : { 'accept-ranges': 'bytes' };
  if (range) {
    if (range.start >= blob.length) {
      res.writeHead(416, { 'content-range': `bytes */${blob.length}` }).end();
      return;
    }
    res.writeHead(206, {
      ...base,
      'content-length': range.end - range.start,
      'content-range': `bytes ${range.start}-${range.end - 1}/${blob.length}`,
    });
    if (req.method === 'HEAD') res.end();
    else res.end(blob.subarray(range.start, range.end));
    return;
  }
  res.writeHead(200, { ...base, 'content-length': blob.length });
  if (req.method === 'HEAD') res.end();
  else res.end(blob);
}
