import { createHash } from 'node:crypto';
import { type Digest, ErrorCode, ShoalError, TokenBucket } from '@shoal/core';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpOrigin, fetchBlob, planRanges } from '../src/index.ts';
import { type TestServer, digestOf, parseRange, serveBlob, startServer, testBlob } from './helpers/blob-server.ts';

const KiB = 1024;
const PIECE = 64 * KiB;

let servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});
async function server(handler: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const s = await startServer(handler);
  servers.push(s);
  return s;
}

/** Collects onPiece calls and checks each piece against the blob. */
function pieceSink(blob: Buffer, pieceLength = PIECE) {
  const seen = new Map<number, number>();
  return {
    seen,
    onPiece(index: number, bytes: Buffer) {
      seen.set(index, (seen.get(index) ?? 0) + 1);
      expect(bytes.equals(blob.subarray(index * pieceLength, (index + 1) * pieceLength))).toBe(true);
    },
    expectAll() {
      const count = Math.ceil(blob.length / pieceLength);
      expect(seen.size).toBe(count);
      for (const times of seen.values()) expect(times).toBe(1);
    },
  };
}

async function rejection(promise: Promise<unknown>): Promise<ShoalError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ShoalError);
  return err as ShoalError;
}

const fast = { retryDelayMs: 5, maxRetryDelayMs: 20 };

describe('fetchBlob over HTTP', () => {
  it('fetches a blob in parallel ranges of whole pieces, each piece once, and checks the digest', async () => {
    const blob = testBlob(1_000_000 + 123);
    const s = await server((req, res) => serveBlob(req, res, blob));
    const sink = pieceSink(blob);
    const stats = await fetchBlob(new HttpOrigin(), digestOf(blob), { kind: 'url', url: `${s.url}/blob` }, {
      pieceLength: PIECE,
      chunkSize: 3 * PIECE,
      concurrency: 4,
      onPiece: sink.onPiece,
    });
    sink.expectAll();
    expect(stats.bytes).toBe(blob.length);
    expect(stats.retries).toBe(0);
    // One stat probe (HEAD) plus one GET per range.
    const ranges = planRanges(blob.length, PIECE, 3 * PIECE);
    expect(stats.requests).toBe(1 + ranges.length);
    const gets = s.requests.filter((r) => r.method === 'GET');
    expect(gets.map((r) => r.range).sort()).toEqual(ranges.map((r) => `bytes=${r.start}-${r.end - 1}`).sort());
    for (const r of gets) expect(parseRange(r.range, blob.length)!.start % PIECE).toBe(0);
  });

  it('resumes a dropped response at the byte reached, never refetching received bytes', async () => {
    const blob = testBlob(512 * KiB + 7);
    const cut = 200_000; // not a piece boundary: the resumed request must start mid-piece
    let dropped = false;
    const s = await server((req, res) => {
      const range = parseRange(req.headers.range, blob.length);
      if (req.method === 'GET' && range?.start === 0 && !dropped) {
        dropped = true;
        res.writeHead(206, {
          'content-length': range.end,
          'content-range': `bytes 0-${range.end - 1}/${blob.length}`,
        });
        // Flush `cut` bytes, then kill the connection mid-body.
        res.write(blob.subarray(0, cut), () => res.socket?.destroy());
        return;
      }
      serveBlob(req, res, blob);
    });
    const sink = pieceSink(blob);
    const stats = await fetchBlob(new HttpOrigin(), digestOf(blob), { kind: 'url', url: `${s.url}/b` }, {
      size: blob.length,
      pieceLength: PIECE,
      chunkSize: blob.length,
      onPiece: sink.onPiece,
      ...fast,
    });
    sink.expectAll();
    expect(stats.retries).toBe(1);
    expect(stats.bytes).toBe(blob.length);
    const gets = s.requests.filter((r) => r.method === 'GET').map((r) => r.range);
    expect(gets).toEqual([`bytes=0-${blob.length - 1}`, `bytes=${cut}-${blob.length - 1}`]);
  });

  it('behind a rate limit, keeps the bytes that arrived before the connection dropped', async () => {
    const blob = testBlob(1536 * KiB);
    const cut = 1_000_003;
    let dropped = false;
    const s = await server((req, res) => {
      const range = parseRange(req.headers.range, blob.length);
      if (req.method === 'GET' && range?.start === 0 && !dropped) {
        dropped = true;
        res.writeHead(206, { 'content-length': range.end, 'content-range': `bytes 0-${range.end - 1}/${blob.length}` });
        // All `cut` bytes reach the client at once; the limiter lets it read them over ~0.5 s.
        res.write(blob.subarray(0, cut), () => res.socket?.end());
        return;
      }
      serveBlob(req, res, blob);
    });
    const stats = await fetchBlob(new HttpOrigin(), digestOf(blob), { kind: 'url', url: `${s.url}/b` }, {
      size: blob.length,
      pieceLength: PIECE,
      chunkSize: blob.length,
      rateLimiter: new TokenBucket(2_000_000, 64 * KiB),
      ...fast,
    });
    expect(stats.bytes).toBe(blob.length);
    const gets = s.requests.filter((r) => r.method === 'GET').map((r) => r.range);
    expect(gets).toEqual([`bytes=0-${blob.length - 1}`, `bytes=${cut}-${blob.length - 1}`]);
  });

  it('rejects bytes that do not hash to the digest with DIGEST_MISMATCH', async () => {
    const blob = testBlob(300 * KiB);
    const other = testBlob(300 * KiB, 2);
    const s = await server((req, res) => serveBlob(req, res, other));
    const err = await rejection(
      fetchBlob(new HttpOrigin(), digestOf(blob), { kind: 'url', url: `${s.url}/b` }, { pieceLength: PIECE }),
    );
    expect(err.code).toBe(ErrorCode.DIGEST_MISMATCH);
    expect(err.message).toContain(digestOf(blob));
    expect(err.message).toContain(digestOf(other));
  });

  it('with checkDigest false leaves the digest to the caller: every piece once, none held or read back', async () => {
    const blob = testBlob(300 * KiB);
    const other = testBlob(300 * KiB, 2);
    const s = await server((req, res) => serveBlob(req, res, other));
    const sink = pieceSink(other);
    const stats = await fetchBlob(new HttpOrigin(), digestOf(blob), { kind: 'url', url: `${s.url}/b` }, {
      pieceLength: PIECE,
      chunkSize: PIECE,
      concurrency: 3,
      maxBufferBytes: PIECE,
      checkDigest: false,
      onPiece: sink.onPiece,
    });
    sink.expectAll();
    expect(stats.bytes).toBe(other.length);
    expect(stats.rereadBytes).toBe(0);
    // Only the pieces being filled are allocated: one per connection.
    expect(stats.peakBufferedBytes).toBeLessThanOrEqual(3 * PIECE);
  });

  it('maps 404 to BLOB_UNKNOWN without retrying', async () => {
    const s = await server((_req, res) => res.writeHead(404).end('no'));
    const digest = digestOf(Buffer.from('x'));
    const err = await rejection(
      fetchBlob(new HttpOrigin(), digest, { kind: 'url', url: `${s.url}/missing` }, { size: 100, ...fast }),
    );
    expect(err.code).toBe(ErrorCode.BLOB_UNKNOWN);
    expect(s.requests).toHaveLength(1);
  });

  it('retries a 500 and succeeds', async () => {
    const blob = testBlob(200 * KiB);
    let failures = 2;
    const s = await server((req, res) => {
      if (req.method === 'GET' && failures > 0) {
        failures--;
        res.writeHead(500).end('busy');
        return;
      }
      serveBlob(req, res, blob);
    });
    const stats = await fetchBlob(new HttpOrigin(), digestOf(blob), { kind: 'url', url: `${s.url}/b` }, {
      size: blob.length,
      pieceLength: PIECE,
      chunkSize: blob.length,
      ...fast,
    });
    expect(stats.retries).toBe(2);
    expect(stats.requests).toBe(3);
  });

  it('gives up after `retries` failures in a row', async () => {
    const s = await server((_req, res) => res.writeHead(503).end());
    const err = await rejection(
      fetchBlob(new HttpOrigin(), digestOf(Buffer.from('y')), { kind: 'url', url: `${s.url}/b` }, {
        size: 1,
        retries: 2,
        ...fast,
      }),
    );
    expect(err.code).toBe(ErrorCode.ORIGIN_UNAVAILABLE);
    expect(err.message).toMatch(/failed 3 times/);
    expect(s.requests).toHaveLength(3);
  });

  it('honours Retry-After on 429', async () => {
    const blob = testBlob(10 * KiB);
    let first = true;
    const s = await server((req, res) => {
      if (req.method === 'GET' && first) {
        first = false;
        res.writeHead(429, { 'retry-after': '1' }).end();
        return;
      }
      serveBlob(req, res, blob);
    });
    const t0 = performance.now();
    await fetchBlob(new HttpOrigin(), digestOf(blob), { kind: 'url', url: `${s.url}/b` }, { size: blob.length, ...fast, maxRetryDelayMs: 2000 });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(950);
  });

  it('reads a server that ignores Range, found out by the size probe, as one sequential range', async () => {
    const blob = testBlob(700 * KiB);
    // HEAD refused (GET-only presigned URL), and the bytes=0-0 probe answered 200.
    const s = await server((req, res) => serveBlob(req, res, blob, { ignoreRange: true, headStatus: 403 }));
    const sink = pieceSink(blob);
    const stats = await fetchBlob(new HttpOrigin(), digestOf(blob), { kind: 'url', url: `${s.url}/b?X-Amz-Signature=abc` }, {
      pieceLength: PIECE,
      chunkSize: PIECE,
      onPiece: sink.onPiece,
    });
    sink.expectAll();
    expect(stats.bytes).toBe(blob.length);
    const gets = s.requests.filter((r) => r.method === 'GET');
    // The probe, then the whole blob once.
    expect(gets.map((r) => r.range)).toEqual(['bytes=0-0', `bytes=0-${blob.length - 1}`]);
  });

  it('skips to the range start when a server unexpectedly ignores Range, or fails clearly past the skip limit', async () => {
    const blob = testBlob(256 * KiB);
    const s = await server((req, res) => serveBlob(req, res, blob, { ignoreRange: req.method === 'GET' }));
    const source = { kind: 'url', url: `${s.url}/b` } as const;
    const sink = pieceSink(blob);
    await fetchBlob(new HttpOrigin(), digestOf(blob), source, {
      size: blob.length,
      pieceLength: PIECE,
      chunkSize: PIECE,
      onPiece: sink.onPiece,
    });
    sink.expectAll();

    const err = await rejection(
      fetchBlob(new HttpOrigin({ maxSkipBytes: 0 }), digestOf(blob), source, {
        size: blob.length,
        pieceLength: PIECE,
        chunkSize: PIECE,
        ...fast,
      }),
    );
    expect(err.code).toBe(ErrorCode.ORIGIN_UNAVAILABLE);
    expect(err.message).toMatch(/ignores Range/);
    expect(err.details?.rangeUnsupported).toBe(true);
  });

  it('learns the size of a presigned URL from a one-byte GET and keeps its query out of errors', async () => {
    const blob = testBlob(100 * KiB);
    const s = await server((req, res) => {
      if (!req.url?.includes('X-Amz-Signature=s3cr3t')) return void res.writeHead(403).end();
      serveBlob(req, res, blob, { headStatus: 403 });
    });
    const origin = new HttpOrigin();
    const url = `${s.url}/bucket/blob?X-Amz-Credential=AKIA&X-Amz-Signature=s3cr3t`;
    const info = await origin.stat(digestOf(blob), { kind: 'url', url });
    expect(info).toEqual({ size: blob.length, acceptsRanges: true });

    const missing = await server((_req, res) => res.writeHead(404).end());
    const err = await rejection(
      origin.stat(digestOf(blob), { kind: 'url', url: `${missing.url}/b?X-Amz-Signature=s3cr3t` }),
    );
    expect(err.code).toBe(ErrorCode.BLOB_UNKNOWN);
    expect(err.message).not.toContain('s3cr3t');
  });

  it('limits its rate with a shared token bucket', async () => {
    const blob = testBlob(400 * KiB);
    const s = await server((req, res) => serveBlob(req, res, blob));
    const bucket = new TokenBucket(1_000_000, 64 * KiB);
    const t0 = performance.now();
    await fetchBlob(new HttpOrigin(), digestOf(blob), { kind: 'url', url: `${s.url}/b` }, {
      size: blob.length,
      pieceLength: PIECE,
      rateLimiter: bucket,
    });
    // 400 KiB at 1 MB/s with a 64 KiB burst: at least ~0.35 s.
    expect(performance.now() - t0).toBeGreaterThan(300);
  });

  it('bounds memory while an early range is slow, and completes', async () => {
    const blob = testBlob(2048 * KiB);
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    const s = await server((req, res) => {
      const range = parseRange(req.headers.range, blob.length);
      if (range?.start === 0) void firstHeld.then(() => serveBlob(req, res, blob));
      else serveBlob(req, res, blob);
    });
    const maxBufferBytes = 512 * KiB;
    const done = fetchBlob(new HttpOrigin(), digestOf(blob), { kind: 'url', url: `${s.url}/b` }, {
      size: blob.length,
      pieceLength: PIECE,
      chunkSize: 2 * PIECE,
      concurrency: 8,
      maxBufferBytes,
    });
    await new Promise((r) => setTimeout(r, 200));
    // While range 0 is held, no range may start beyond 512 KiB of the (empty) hashed prefix.
    const started = s.requests.map((r) => parseRange(r.range, blob.length)!);
    for (const r of started) expect(r.end).toBeLessThanOrEqual(maxBufferBytes);
    releaseFirst();
    const stats = await done;
    expect(stats.peakBufferedBytes).toBeLessThanOrEqual(maxBufferBytes);
    expect(stats.bytes).toBe(blob.length);
  });

  it('with readPiece, runs ahead of a slow range and re-reads the pieces it dropped', async () => {
    const blob = testBlob(2048 * KiB);
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    const s = await server((req, res) => {
      const range = parseRange(req.headers.range, blob.length);
      if (range?.start === 0) void firstHeld.then(() => serveBlob(req, res, blob));
      else serveBlob(req, res, blob);
    });
    const stored = new Map<number, Buffer>();
    const done = fetchBlob(new HttpOrigin(), digestOf(blob), { kind: 'url', url: `${s.url}/b` }, {
      size: blob.length,
      pieceLength: PIECE,
      chunkSize: 2 * PIECE,
      concurrency: 4,
      maxBufferBytes: 4 * PIECE,
      onPiece: (i, bytes) => void stored.set(i, Buffer.from(bytes)),
      readPiece: async (i) => stored.get(i)!,
    });
    // Every range but the first completes while the first is held.
    while (stored.size < blob.length / PIECE - 2) await new Promise((r) => setTimeout(r, 10));
    releaseFirst();
    const stats = await done;
    expect(stats.rereadBytes).toBeGreaterThan(0);
    expect(stats.peakBufferedBytes).toBeLessThanOrEqual(4 * PIECE + 4 * PIECE);
  });

  it('stops on abort with ABORTED and calls onPiece no more', async () => {
    const blob = testBlob(1024 * KiB);
    const s = await server((req, res) => {
      const range = parseRange(req.headers.range, blob.length)!;
      res.writeHead(206, { 'content-length': range.end - range.start, 'content-range': `bytes ${range.start}-${range.end - 1}/${blob.length}` });
      res.write(blob.subarray(range.start, range.start + PIECE)); // then stall
    });
    const controller = new AbortController();
    let piecesAfter = 0;
    let settled = false;
    const done = fetchBlob(new HttpOrigin(), digestOf(blob), { kind: 'url', url: `${s.url}/b` }, {
      size: blob.length,
      pieceLength: PIECE,
      signal: controller.signal,
      onPiece: () => {
        if (settled) piecesAfter++;
      },
    });
    setTimeout(() => controller.abort(), 100);
    const err = await rejection(done);
    settled = true;
    expect(err.code).toBe(ErrorCode.ABORTED);
    await new Promise((r) => setTimeout(r, 50));
    expect(piecesAfter).toBe(0);
  });

  it('fails with the error of onPiece, without retrying', async () => {
    const blob = testBlob(256 * KiB);
    const s = await server((req, res) => serveBlob(req, res, blob));
    const boom = new Error('disk full');
    const err = await fetchBlob(new HttpOrigin(), digestOf(blob), { kind: 'url', url: `${s.url}/b` }, {
      size: blob.length,
      pieceLength: PIECE,
      onPiece: () => {
        throw boom;
      },
    }).catch((e: unknown) => e);
    expect(err).toBe(boom);
  });

  it('fetches an empty blob without a range request', async () => {
    const s = await server((req, res) => serveBlob(req, res, Buffer.alloc(0)));
    const empty = `sha256:${createHash('sha256').digest('hex')}` as Digest;
    const stats = await fetchBlob(new HttpOrigin(), empty, { kind: 'url', url: `${s.url}/e` }, {});
    expect(stats.bytes).toBe(0);
    // HEAD only.
    expect(s.requests.map((r) => r.method)).toEqual(['HEAD']);
  });
});
