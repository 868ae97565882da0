/**
 * Warm rate of the origin fetcher: how fast `fetchBlob` (parallel ranges + the whole-blob
 * sha256 check) pulls a blob from a local HTTP server, next to `curl -s -o /dev/null` of the
 * same URL, in one run.
 *
 *   node_modules/.bin/node packages/origin/bench/warm-rate.ts [--size-mib 1024] [--runs 3]
 *     [--concurrency 8] [--chunk-mib 32] [--piece-mib <auto>] [--piece-hash] [--hash-thread main|worker]
 *
 * `--piece-hash` also sha256es every piece in onPiece, as the seeder does to build the
 * metainfo. The file lives in the OS temp dir, the server in its own process (bench/file-server.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Digest, choosePieceLength } from '@shoal/core';
import { Agent } from 'undici';
import { HttpOrigin, fetchBlob } from '../src/index.ts';

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    runs: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '8' },
    'chunk-mib': { type: 'string' },
    'piece-mib': { type: 'string' },
    'piece-hash': { type: 'boolean', default: false },
    'hash-thread': { type: 'string' },
  },
});
const MiB = 1 << 20;
const size = Number(values['size-mib']) * MiB;
const runs = Number(values.runs);

const dir = mkdtempSync(join(tmpdir(), 'shoal-warm-rate-'));
const file = join(dir, 'blob');
let server: ReturnType<typeof spawn> | undefined;
try {
  // Pseudo-random content (incompressible, not constant), hashed as it is written.
  const hash = createHash('sha256');
  const block = Buffer.alloc(16 * MiB);
  const fd = openSync(file, 'w');
  for (let off = 0, n = 0; off < size; off += block.length, n++) {
    createHash('sha512').update(String(n)).digest().copy(block, 0);
    for (let i = 64; i < block.length; i += 64) block.copy(block, i, i - 64 + ((n * 7) % 64), i - 64 + ((n * 7) % 64) + 64);
    const part = block.subarray(0, Math.min(block.length, size - off));
    writeSync(fd, part);
    hash.update(part);
  }
  closeSync(fd);
  const digest = `sha256:${hash.digest('hex')}` as Digest;

  server = spawn(process.execPath, [new URL('./file-server.ts', import.meta.url).pathname, file], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [portLine] = (await once(server.stdout!, 'data')) as [Buffer];
  const url = `http://127.0.0.1:${portLine.toString().trim()}/blob`;

  /** CPU ms (user + system) a process has used so far. */
  const cpuOf = (pid: number) => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * (1000 / 100);
  };
  const serverPid = server.pid!;
  const curl = () => {
    const s0 = cpuOf(serverPid);
    const t0 = performance.now();
    const r = spawnSync('/usr/bin/time', ['-f', '%U %S', 'curl', '-s', '-o', '/dev/null', '-w', '%{size_download}', url], {
      encoding: 'utf8',
    });
    const ms = performance.now() - t0;
    if (r.status !== 0 || Number(r.stdout) !== size) throw new Error(`curl failed: ${r.status} ${r.stdout}`);
    const [user, sys] = r.stderr.trim().split(/\s+/).slice(-2).map(Number);
    return { ms, clientCpuMs: (user! + sys!) * 1000, serverCpuMs: cpuOf(serverPid) - s0 };
  };

  /** The same work as the fetcher, by standard tools: download and sha256 (SHA-NI) in a pipeline. */
  const curlSha = () => {
    const t0 = performance.now();
    const r = spawnSync('sh', ['-c', `curl -s '${url}' | openssl dgst -sha256 -r`], { encoding: 'utf8' });
    if (r.status !== 0 || r.stdout.slice(0, 64) !== digest.slice(7)) throw new Error(`curl | openssl failed: ${r.status}`);
    return performance.now() - t0;
  };

  const pieceLength = values['piece-mib'] ? Number(values['piece-mib']) * MiB : choosePieceLength(size);
  const dispatcher = new Agent({ connections: 64 });
  const origin = new HttpOrigin({ dispatcher });
  const shoal = async () => {
    const s0 = cpuOf(serverPid);
    const c0 = process.cpuUsage();
    const m0 = process.threadCpuUsage();
    const t0 = performance.now();
    const stats = await fetchBlob(origin, digest, { kind: 'url', url }, {
      size,
      pieceLength,
      concurrency: Number(values.concurrency),
      ...(values['chunk-mib'] ? { chunkSize: Number(values['chunk-mib']) * MiB } : {}),
      ...(values['hash-thread'] ? { hashThread: values['hash-thread'] as 'main' | 'worker' } : {}),
      ...(values['piece-hash'] ? { onPiece: (_i: number, bytes: Buffer) => void createHash('sha256').update(bytes).digest() } : {}),
    });
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const m = process.threadCpuUsage(m0);
    return {
      ms,
      stats,
      clientCpuMs: (c.user + c.system) / 1000,
      mainThreadCpuMs: (m.user + m.system) / 1000,
      serverCpuMs: cpuOf(serverPid) - s0,
    };
  };

  curl(); // warm the page cache and the server
  const mbps = (ms: number) => size / 1e6 / (ms / 1000);
  const curlRates: number[] = [];
  const curlShaRates: number[] = [];
  const shoalRates: number[] = [];
  let last: Awaited<ReturnType<typeof shoal>> | undefined;
  // Interleaved, so that load from other processes on the machine hits both alike.
  for (let i = 0; i < runs; i++) {
    const c = curl();
    curlRates.push(mbps(c.ms));
    curlShaRates.push(mbps(curlSha()));
    last = await shoal();
    shoalRates.push(mbps(last.ms));
    const perGiB = (ms: number) => ((ms * (1 << 30)) / size).toFixed(0);
    console.log(
      `run ${i + 1}: curl ${mbps(c.ms).toFixed(0)} MB/s (cpu/GiB: curl ${perGiB(c.clientCpuMs)} ms, server ${perGiB(c.serverCpuMs)} ms); ` +
        `fetchBlob ${mbps(last.ms).toFixed(0)} MB/s (cpu/GiB: fetcher ${perGiB(last.clientCpuMs)} ms of which event loop ${perGiB(last.mainThreadCpuMs)} ms, server ${perGiB(last.serverCpuMs)} ms)`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const c = median(curlRates);
  const s = median(shoalRates);
  console.log(`blob ${size / MiB} MiB, piece ${pieceLength / MiB} MiB, concurrency ${values.concurrency}, runs ${runs}`);
  console.log(`curl -s -o /dev/null : ${c.toFixed(0)} MB/s  (runs: ${curlRates.map((r) => r.toFixed(0)).join(', ')})`);
  console.log(`fetchBlob + sha256    : ${s.toFixed(0)} MB/s  (runs: ${shoalRates.map((r) => r.toFixed(0)).join(', ')})`);
  const cs = median(curlShaRates);
  console.log(`curl | openssl sha256 : ${cs.toFixed(0)} MB/s  (runs: ${curlShaRates.map((r) => r.toFixed(0)).join(', ')})`);
  console.log(`ratio                 : ${(s / c).toFixed(2)}x of curl -o /dev/null, ${(s / cs).toFixed(2)}x of curl | openssl sha256`);
  console.log(
    `last fetch: ${last!.stats.requests} requests, ${last!.stats.retries} retries, peak buffered ${(last!.stats.peakBufferedBytes / MiB).toFixed(0)} MiB`,
  );
  await dispatcher.close();
} finally {
  server?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
