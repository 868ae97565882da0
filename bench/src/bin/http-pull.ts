/**
 * One node of the plain-HTTP baselines (every node straight from the origin, or through a
 * central pull-through cache): downloads blobs over HTTP through its own capped link (one
 * token bucket for all its downloads, like the agent's node-wide bucket), checks each blob's
 * sha256 against the digest in its URL, and writes it to disk, as a node's container runtime
 * would.
 *
 *   node bench/src/bin/http-pull.ts --rate 25MB/s --out <dir> [--wait-signal] <url>/sha256:<hex> ...
 *
 * With --wait-signal it prints {"event":"ready"} and starts on SIGUSR2, so that a benchmark
 * can start all its nodes first and time the pulls, not the process start-up.
 *
 * Prints JSON lines: {"event":"progress","bytes":N} twice a second, {"event":"done",...} per
 * blob (with `at`, the wall-clock ms it was verified), and {"event":"exit",...} with its peak
 * memory and CPU time. Exits 0 when every blob arrived intact.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { TokenBucket } from '@shoal/core';
import { parseSize } from '../lib/units.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rate: { type: 'string', default: '0' }, out: { type: 'string' }, 'wait-signal': { type: 'boolean', default: false } },
});
if (!values.out || positionals.length === 0) throw new Error('usage: http-pull.ts --rate <bytes/s> --out <dir> <url>/sha256:<hex> ...');
const out = values.out;
const bucket = new TokenBucket(parseSize(values.rate!));
let received = 0;
const print = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);
const progress = setInterval(() => print({ event: 'progress', bytes: received }), 500);

async function pull(url: string): Promise<void> {
  const hex = /sha256:([0-9a-f]{64})$/.exec(url)?.[1];
  if (!hex) throw new Error(`${url} does not end in a sha256 digest`);
  const started = Date.now();
  const response = await request(url, { headersTimeout: 600_000, bodyTimeout: 600_000 });
  if (response.statusCode !== 200) throw new Error(`${url}: HTTP ${response.statusCode}: ${(await response.body.text()).slice(0, 200)}`);
  const file = createWriteStream(join(out, hex));
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of response.body) {
    hash.update(chunk);
    bytes += chunk.length;
    received += chunk.length;
    if (!file.write(chunk)) await once(file, 'drain');
    // The node's download link: while the bucket is in debt, stop reading and let TCP push back.
    const wait = bucket.take(chunk.length);
    if (wait > 0) await sleep(wait);
  }
  file.end();
  await once(file, 'close');
  const actual = hash.digest('hex');
  if (actual !== hex) throw new Error(`${url}: received bytes hash to sha256:${actual}`);
  print({ event: 'done', url, bytes, started, at: Date.now() });
}

try {
  await mkdir(out, { recursive: true });
  if (values['wait-signal']) {
    const go = new Promise<void>((resolve) => process.once('SIGUSR2', () => resolve()));
    print({ event: 'ready' });
    await go;
  }
  await Promise.all(positionals.map(pull));
  process.exitCode = 0;
} catch (err) {
  process.stderr.write(`http-pull: ${(err as Error).message}\n`);
  process.exitCode = 1;
} finally {
  clearInterval(progress);
  const usage = process.resourceUsage();
  print({ event: 'exit', bytes: received, maxRssBytes: usage.maxRSS * 1024, cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6 });
  bucket.close();
}
