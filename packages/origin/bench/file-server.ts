/**
 * A static file server for the warm-rate benchmark, run as its own process so that serving
 * and fetching do not share an event loop: `node file-server.ts <file>`. Prints its port.
 * Supports HEAD and single `Range: bytes=a-b` requests, like a registry's storage backend.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const file = process.argv[2];
if (!file) throw new Error('usage: file-server.ts <file>');
const size = statSync(file).size;

const server = createServer((req, res) => {
  const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const start = m ? Number(m[1]) : 0;
  const end = m ? (m[2] ? Math.min(size, Number(m[2]) + 1) : size) : size;
  const headers: Record<string, string | number> = { 'accept-ranges': 'bytes', 'content-length': end - start };
  if (m) headers['content-range'] = `bytes ${start}-${end - 1}/${size}`;
  res.writeHead(m ? 206 : 200, headers);
  if (req.method === 'HEAD' || end === start) return void res.end();
  createReadStream(file, { start, end: end - 1, highWaterMark: 1 << 20 }).pipe(res);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
