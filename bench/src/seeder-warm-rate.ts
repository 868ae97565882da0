/**
 * Benchmark: how fast the seeder warms a blob from a local HTTP origin, end to end (ranged
 * GETs, piece hashes, writes to its store, the whole-blob digest check, published as
 * `seeding`), next to `curl` of the same URL, interleaved in one run so that load from other
 * processes hits both alike.
 *
 *   node_modules/.bin/node bench/src/seeder-warm-rate.ts [--size 1Gi] [--runs 3] [--fetch-concurrency 8]
 *
 * Each seeder run starts a fresh `shoal tracker` (its own empty store, outside the timed
 * part) with `--origin-url`, asks it for the blob's metainfo and times until the blob is
 * verified and seeding. curl is measured twice: `-o /dev/null` (the network alone) and
 * `-o FILE` in the same directory as the seeder's store (network and disk: what the seeder
 * must at least do, before any hashing).
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { generateBlob } from './lib/blobs.ts';
import { startShoal, waitFor } from './lib/processes.ts';
import { parseSize } from './lib/units.ts';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '1Gi' },
    runs: { type: 'string', default: '3' },
    'fetch-concurrency': { type: 'string', default: '8' },
  },
});
const size = parseSize(values.size!);
const runs = Number(values.runs);
const root = await mkdtemp(join(tmpdir(), 'shoal-seeder-warm-'));
let server: ReturnType<typeof spawn> | undefined;

/** CPU ms (user + system, all threads) a process has used so far. */
function cpuOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** CPU ms by thread name (main, libuv pool, V8 helpers, worker threads) of a live process. */
function cpuByThread(pid: number): Map<string, number> {
  const result = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      result.set(name, (result.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) * 10);
    } catch {
      // The thread ended.
    }
  }
  return result;
}

try {
  process.stdout.write(`generating ${(size / 2 ** 20).toFixed(0)} MiB...\n`);
  const { digest } = await generateBlob(join(root, 'origin'), size);
  const hex = digest.slice('sha256:'.length);
  server = spawn(process.execPath, [new URL('./lib/file-server.ts', import.meta.url).pathname, join(root, 'origin', 'blobs', 'sha256')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [portLine] = (await once(server.stdout!, 'data')) as [Buffer];
  const base = `http://127.0.0.1:${portLine.toString().trim()}`;
  const url = `${base}/${hex}`;

  const curl = (output: string): number => {
    const t0 = performance.now();
    const r = spawnSync('curl', ['-s', '-o', output, '-w', '%{size_download}', url], { encoding: 'utf8' });
    const ms = performance.now() - t0;
    if (r.status !== 0 || Number(r.stdout) !== size) throw new Error(`curl failed: ${r.status} ${r.stdout}`);
    return ms;
  };

  const seeder = async (run: number): Promise<{ ms: number; cpuMs: number; threads: string }> => {
    const dir = join(root, `tracker-${run}`);
    const tracker = startShoal([
      'tracker', '--listen', '127.0.0.1:0', '--peer-port', '0', '--store', dir,
      '--origin-url', `${base}/{hex}`, '--fetch-concurrency', values['fetch-concurrency']!, '--log-level', 'info',
    ]);
    try {
      const trackerUrl = await waitFor('tracker address', async () => {
        for (const line of tracker.output.join('').split('\n')) {
          if (line.includes('"msg":"tracker started"')) return (JSON.parse(line) as { url: string }).url;
        }
        return undefined;
      });
      const cpu0 = cpuOf(tracker.child.pid!);
      const threads0 = cpuByThread(tracker.child.pid!);
      const t0 = performance.now();
      const first = await request(`${trackerUrl}/v1/metainfo/${digest}`);
      const { pieceLength } = (await first.body.json()) as { pieceLength: number };
      // Long poll until every piece hash is published, then until the digest check is done.
      const pieces = Math.ceil(size / pieceLength);
      await (await request(`${trackerUrl}/v1/metainfo/${digest}?known=${pieces - 1}&wait=30`)).body.dump();
      // Per thread, while the threads still live (the blob hash thread ends with the check).
      const threads = [...cpuByThread(tracker.child.pid!)]
        .map(([name, ms]) => [name, ms - (threads0.get(name) ?? 0)] as const)
        .filter(([, ms]) => ms >= 50)
        .sort((a, b) => b[1] - a[1])
        .map(([name, ms]) => `${name} ${((ms * 2 ** 30) / size).toFixed(0)}`)
        .join(', ');
      await waitFor('seeder warm-up', async () => {
        const { blobs } = (await (await request(`${trackerUrl}/v1/blobs`)).body.json()) as { blobs: Array<{ state: string; error?: unknown }> };
        if (blobs[0]?.state === 'failed') throw new Error(`warm-up failed: ${JSON.stringify(blobs[0].error)}`);
        return blobs[0]?.state === 'seeding' ? true : undefined;
      }, 600_000, 5);
      const ms = performance.now() - t0;
      return { ms, cpuMs: cpuOf(tracker.child.pid!) - cpu0, threads };
    } finally {
      await tracker.stop();
      await rm(dir, { recursive: true, force: true });
    }
  };

  curl('/dev/null'); // warm the page cache and the server
  const mbps = (ms: number) => size / 1e6 / (ms / 1000);
  const rows: Array<{ null: number; file: number; seeder: number; cpuPerGiB: number }> = [];
  for (let i = 0; i < runs; i++) {
    const toNull = mbps(curl('/dev/null'));
    const out = join(root, 'curl-output');
    const toFile = mbps(curl(out));
    await rm(out, { force: true });
    const s = await seeder(i);
    const row = { null: toNull, file: toFile, seeder: mbps(s.ms), cpuPerGiB: (s.cpuMs * 2 ** 30) / size };
    rows.push(row);
    console.log(
      `run ${i + 1}: curl -o /dev/null ${row.null.toFixed(0)} MB/s, curl -o file ${row.file.toFixed(0)} MB/s, ` +
        `seeder ${row.seeder.toFixed(0)} MB/s (tracker CPU ${row.cpuPerGiB.toFixed(0)} ms/GiB; by thread until the last piece: ${s.threads})`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const n = median(rows.map((r) => r.null));
  const f = median(rows.map((r) => r.file));
  const s = median(rows.map((r) => r.seeder));
  console.log(`blob ${(size / 2 ** 20).toFixed(0)} MiB, ${runs} runs, medians:`);
  console.log(`curl -s -o /dev/null  ${n.toFixed(0)} MB/s`);
  console.log(`curl -s -o FILE       ${f.toFixed(0)} MB/s`);
  console.log(`seeder warm-up        ${s.toFixed(0)} MB/s  (tracker CPU ${median(rows.map((r) => r.cpuPerGiB)).toFixed(0)} ms/GiB)`);
  console.log(`ratio                 ${(s / f).toFixed(2)}x of curl -o FILE, ${(s / n).toFixed(2)}x of curl -o /dev/null`);
} finally {
  server?.kill('SIGTERM');
  await rm(root, { recursive: true, force: true });
}
