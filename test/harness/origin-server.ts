/**
 * A real HTTP origin (node:http on 127.0.0.1) serving blobs at `/<hex>` with HEAD and single
 * ranges, that counts every byte it sends and can misbehave on purpose: cut responses short
 * (the connection closes mid-body) or serve wrong bytes. Tests point the tracker at it with
 * `--origin-url <url>/{hex}`, or agents with `?url=<url>/<hex>`.
 */
import { createHash } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One GET as the origin answered it. */
export interface OriginRequest {
  hex: string;
  start: number;
  /** Exclusive. */
  end: number;
  /** Bytes written to the response. */
  sent: number;
  /** The response was cut short on purpose. */
  cut: boolean;
  /** The response carried a flipped byte on purpose. */
  corrupted: boolean;
}

export interface OriginServer {
  url: string;
  /** `--origin-url` template: `<url>/{hex}`. */
  template: string;
  /** Adds a blob; returns its digest. */
  add(bytes: Buffer): `sha256:${string}`;
  urlOf(digest: string): string;
  /** Body bytes sent for a digest (all digests when absent). */
  bytesSent(digest?: string): number;
  /** Every GET answered, in order. */
  readonly requests: OriginRequest[];
  /** Cuts the next `count` GET responses for `digest` after `afterBytes` body bytes (the connection closes). */
  dropConnections(digest: string, count: number, afterBytes: number): void;
  /** Flips one byte in the middle of `digest` in the next `count` responses that carry it (Infinity: always). */
  corrupt(digest: string, count: number): void;
  close(): Promise<void>;
}

const CHUNK = 256 * 1024;

export async function startOriginServer(): Promise<OriginServer> {
  const blobs = new Map<string, Buffer>();
  const requests: OriginRequest[] = [];
  const drops = new Map<string, { count: number; afterBytes: number }>();
  const corruptions = new Map<string, number>();

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const hex = (req.url ?? '/').split('?')[0]!.slice(1);
    const blob = blobs.get(hex);
    if (!blob) return void res.writeHead(404).end();
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const end = m ? (m[2] ? Math.min(blob.length, Number(m[2]) + 1) : blob.length) : blob.length;
    if (start >= blob.length && blob.length > 0) return void res.writeHead(416, { 'content-range': `bytes */${blob.length}` }).end();
    const headers: Record<string, string | number> = { 'accept-ranges': 'bytes', 'content-length': end - start };
    if (m) headers['content-range'] = `bytes ${start}-${end - 1}/${blob.length}`;
    res.writeHead(m ? 206 : 200, headers);
    if (req.method === 'HEAD') return void res.end();

    let body = blob.subarray(start, end);
    const flip = Math.floor(blob.length / 2);
    const record: OriginRequest = { hex, start, end, sent: 0, cut: false, corrupted: false };
    requests.push(record);
    const corruptLeft = corruptions.get(hex) ?? 0;
    if (corruptLeft > 0 && start <= flip && flip < end) {
      corruptions.set(hex, corruptLeft - 1);
      body = Buffer.from(body);
      body[flip - start] = body[flip - start]! ^ 0x01;
      record.corrupted = true;
    }
    const drop = drops.get(hex);
    let limit = body.length;
    if (drop && drop.count > 0 && drop.afterBytes < body.length) {
      drop.count--;
      limit = drop.afterBytes;
      record.cut = true;
    }
    for (let offset = 0; offset < limit; offset += CHUNK) {
      const chunk = body.subarray(offset, Math.min(limit, offset + CHUNK));
      const flushed = new Promise<void>((resolve) => res.write(chunk, () => resolve()));
      record.sent += chunk.length;
      await flushed;
      if (res.destroyed) return;
    }
    // A cut response ends the connection gracefully after the bytes sent: the client gets
    // every one of them, then a body shorter than its Content-Length.
    if (record.cut) res.socket?.end();
    else res.end();
  }

  const server = createServer((req, res) => {
    serve(req, res).catch(() => res.destroy());
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const hexOf = (digest: string) => digest.replace(/^sha256:/, '');
  return {
    url,
    template: `${url}/{hex}`,
    requests,
    add(bytes) {
      const hex = createHash('sha256').update(bytes).digest('hex');
      blobs.set(hex, bytes);
      return `sha256:${hex}`;
    },
    urlOf: (digest) => `${url}/${hexOf(digest)}`,
    bytesSent: (digest) => requests.filter((r) => digest === undefined || r.hex === hexOf(digest)).reduce((a, r) => a + r.sent, 0),
    dropConnections(digest, count, afterBytes) {
      drops.set(hexOf(digest), { count, afterBytes });
    },
    corrupt(digest, count) {
      corruptions.set(hexOf(digest), count);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
