import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '@shoal/core';
import { sendFileRange } from '../src/send-file.ts';

describe('sendFileRange', () => {
  const bytes = randomBytes(5 * (1 << 20) + 12345);
  let dir: string;
  let server: Server;
  let url: string;
  const outcomes: Array<{ ok: true } | { ok: false; code: unknown }> = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-send-file-'));
    const path = join(dir, 'blob');
    await writeFile(path, bytes);
    // Larger than any socket buffer, so that a client leaving early always finds bytes unsent.
    await writeFile(join(dir, 'big'), Buffer.alloc(64 << 20));
    server = createServer((req, res) => {
      const q = new URL(req.url!, 'http://x').searchParams;
      const file = q.get('big') ? join(dir, 'big') : path;
      const start = Number(q.get('start'));
      const end = Number(q.get('end'));
      res.writeHead(200, { 'content-length': String(end - start) });
      sendFileRange(res, file, start, end).then(
        () => outcomes.push({ ok: true }),
        (err: { code?: unknown }) => outcomes.push({ ok: false, code: err.code }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('sends exactly the bytes of the range, across buffer reuse', async () => {
    for (const [start, end] of [
      [0, bytes.length],
      [1, 2],
      [(1 << 20) - 7, 4 * (1 << 20) + 99],
      [bytes.length - 10, bytes.length],
    ] as const) {
      const body = Buffer.from(await (await fetch(`${url}/?start=${start}&end=${end}`)).arrayBuffer());
      expect(body.equals(bytes.subarray(start, end)), `${start}-${end}`).toBe(true);
    }
    // The server side settles once the socket has taken the last bytes, possibly after the body arrived.
    await expect.poll(() => outcomes.length).toBe(4);
    expect(outcomes.every((o) => o.ok)).toBe(true);
  });

  it('stops with ABORTED when the client leaves', async () => {
    outcomes.length = 0;
    const abort = new AbortController();
    const res = await fetch(`${url}/?big=1&start=0&end=${64 << 20}`, { signal: abort.signal });
    await res.body!.getReader().read();
    abort.abort();
    await expect.poll(() => outcomes.length).toBe(1);
    expect(outcomes[0]).toEqual({ ok: false, code: ErrorCode.ABORTED });
  });
});
