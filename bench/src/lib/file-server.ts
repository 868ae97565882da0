/**
 * A static origin for benchmarks, run as its own process so that serving and fetching do not
 * share an event loop: `node file-server.ts <dir>` serves `<dir>/<name>` for every file name
 * (blobs named by their hex digest, say) with HEAD and single `Range: bytes=a-b` requests,
 * like a registry's storage backend or a CDN. Prints its port on stdout.
 *
 * `GET /_stats` answers `{ "bytes": N, "requests": N }`: what it has served so far, so a
 * benchmark can report how many copies the origin paid.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';

const dir = process.argv[2];
if (!dir) throw new Error('usage: file-server.ts <dir>');
const stats = { bytes: 0, requests: 0 };

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0]!;
  if (path === '/_stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
    return;
  }
  // One flat directory: the name is the last path segment, never a path.
  const file = join(dir, basename(decodeURIComponent(path)));
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    res.writeHead(404).end();
    return;
  }
  stats.requests++;
  const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const start = m ? Number(m[1]) : 0;
  const end = m ? (m[2] ? Math.min(size, Number(m[2]) + 1) : size) : size;
  const headers: Record<string, string | number> = { 'accept-ranges': 'bytes', 'content-length': end - start };
  if (m) headers['content-range'] = `bytes ${start}-${end - 1}/${size}`;
  res.writeHead(m ? 206 : 200, headers);
  if (req.method === 'HEAD' || end === start) return void res.end();
  const stream = createReadStream(file, { start, end: end - 1, highWaterMark: 1 << 20 });
  stream.on('data', (chunk) => {
    stats.bytes += chunk.length;
  });
  stream.pipe(res);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
