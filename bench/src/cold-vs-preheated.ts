/**
 * Benchmark: a rollout of one blob to N agents when the seeder is cold (agents ask first; the
 * seeder fetches from the origin while it serves them) against the same rollout after a
 * preheat (the blob warmed before the first agent asks), in one run, on loopback, every agent
 * capped at the same rate each way.
 *
 *   node_modules/.bin/node bench/src/cold-vs-preheated.ts [--size 512Mi] [--agents 6] [--rate 25MB/s]
 *     [--seeder-rate 0] [--origin-rate 0] [--runs 1]
 *
 * Each scenario starts a fresh tracker (`--origin-url` of a local HTTP origin) and fresh
 * agents, then has every agent pull the blob at once through its artifact endpoint; the
 * rollout time runs from the first request to the last byte of the last agent. Printed: the
 * rollout time, its ratio to the ideal (size / rate: each agent receives every byte over its
 * own link), the origin bytes during the pull, and cold / preheated.
 *
 * The rate caps the agents (`--download-rate`/`--upload-rate`); the seeder's upload is
 * uncapped unless `--seeder-rate` says otherwise (the tracker's default). The origin is a
 * local file server, uncapped unless `--origin-rate`.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { generateBlob } from './lib/blobs.ts';
import { type ShoalProcess, startShoal, waitFor } from './lib/processes.ts';
import { parseSize } from './lib/units.ts';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '512Mi' },
    agents: { type: 'string', default: '6' },
    rate: { type: 'string', default: '25MB/s' },
    'seeder-rate': { type: 'string' },
    'origin-rate': { type: 'string', default: '0' },
    runs: { type: 'string', default: '1' },
  },
});
const size = parseSize(values.size!);
const agentCount = Number(values.agents);
const rate = parseSize(values.rate!);
const seederRate = values['seeder-rate'] ?? '0';
const runs = Number(values.runs);
const root = await mkdtemp(join(tmpdir(), 'shoal-cold-preheated-'));
const running: ShoalProcess[] = [];
let origin: ReturnType<typeof spawn> | undefined;

/** Starts a daemon and returns its URL, from its "started" log line. */
async function daemon(kind: 'tracker' | 'agent', args: string[]): Promise<{ proc: ShoalProcess; url: string }> {
  const proc = startShoal([kind, '--listen', '127.0.0.1:0', '--peer-port', '0', '--log-level', 'info', ...args]);
  running.push(proc);
  const url = await waitFor(`${kind} address`, async () => {
    for (const line of proc.output.join('').split('\n')) {
      if (line.includes(`"msg":"${kind} started"`)) return (JSON.parse(line) as { url: string }).url;
    }
    return undefined;
  });
  return { proc, url };
}

async function getJson<T>(url: string, init?: Parameters<typeof request>[1]): Promise<T> {
  const response = await request(url, init);
  return (await response.body.json()) as T;
}

interface Result {
  seconds: number;
  agentSeconds: number[];
  originBytes: number;
  warmSeconds?: number;
}

async function scenario(name: 'cold' | 'preheated', run: number, digest: string, originUrl: string): Promise<Result> {
  const dir = join(root, `${run}-${name}`);
  const tracker = await daemon('tracker', [
    '--store', join(dir, 'tracker'), '--origin-url', `${originUrl}/{hex}`, '--upload-rate', seederRate,
    '--origin-rate', values['origin-rate']!, '--announce-interval', '5s',
  ]);
  let warmSeconds: number | undefined;
  if (name === 'preheated') {
    const t0 = performance.now();
    const job = await getJson<{ id: string }>(`${tracker.url}/v1/preheat`, { method: 'POST', body: JSON.stringify({ blobs: [digest] }) });
    await waitFor('preheat', async () => {
      const state = (await getJson<{ state: string }>(`${tracker.url}/v1/preheat/${job.id}`)).state;
      if (state === 'failed') throw new Error('preheat failed');
      return state === 'done' ? true : undefined;
    }, 600_000, 100);
    warmSeconds = (performance.now() - t0) / 1000;
  }
  const agents = await Promise.all(
    Array.from({ length: agentCount }, (_, i) =>
      daemon('agent', ['--store', join(dir, `agent-${i}`), '--tracker', tracker.url, '--download-rate', values.rate!, '--upload-rate', values.rate!, '--stall-timeout', '120s']),
    ),
  );
  const before = await getJson<{ bytes: number }>(`${originUrl}/_stats`);
  const t0 = performance.now();
  const agentSeconds = await Promise.all(
    agents.map(async (agent) => {
      const response = await request(`${agent.url}/v1/blobs/${digest}`, { headersTimeout: 600_000, bodyTimeout: 600_000 });
      let received = 0;
      for await (const chunk of response.body) received += chunk.length;
      if (response.statusCode !== 200 || received !== size) throw new Error(`agent ${agent.url}: ${response.statusCode}, ${received} bytes`);
      return (performance.now() - t0) / 1000;
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const after = await getJson<{ bytes: number }>(`${originUrl}/_stats`);
  for (const p of running.splice(0)) await p.stop();
  await rm(dir, { recursive: true, force: true });
  return { seconds, agentSeconds, originBytes: after.bytes - before.bytes, ...(warmSeconds !== undefined ? { warmSeconds } : {}) };
}

try {
  process.stdout.write(`generating ${(size / 2 ** 20).toFixed(0)} MiB...\n`);
  const { digest } = await generateBlob(join(root, 'origin'), size);
  origin = spawn(process.execPath, [new URL('./lib/file-server.ts', import.meta.url).pathname, join(root, 'origin', 'blobs', 'sha256')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [portLine] = (await once(origin.stdout!, 'data')) as [Buffer];
  const originUrl = `http://127.0.0.1:${portLine.toString().trim()}`;
  const ideal = size / rate;
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const results: Record<'cold' | 'preheated', Result[]> = { cold: [], preheated: [] };
  for (let run = 0; run < runs; run++) {
    // Alternate the order, so that load from other processes hits both alike.
    const order: Array<'cold' | 'preheated'> = run % 2 === 0 ? ['cold', 'preheated'] : ['preheated', 'cold'];
    for (const name of order) {
      const r = await scenario(name, run, digest, originUrl);
      results[name].push(r);
      console.log(
        `run ${run + 1} ${name.padEnd(9)} rollout ${r.seconds.toFixed(1)} s (${(r.seconds / ideal).toFixed(2)}x ideal; ` +
          `agents p50 ${median(r.agentSeconds).toFixed(1)} s), origin ${(r.originBytes / size).toFixed(2)} copies during the pull` +
          (r.warmSeconds !== undefined ? `, preheat took ${r.warmSeconds.toFixed(1)} s` : ''),
      );
    }
  }
  const cold = median(results.cold.map((r) => r.seconds));
  const warm = median(results.preheated.map((r) => r.seconds));
  console.log(
    `${agentCount} agents x ${(size / 2 ** 20).toFixed(0)} MiB at ${values.rate} per node (seeder upload ${seederRate === '0' ? 'uncapped' : seederRate}, origin ${values['origin-rate'] === '0' ? 'uncapped' : values['origin-rate']}); ideal ${ideal.toFixed(1)} s`,
  );
  console.log(`cold       ${cold.toFixed(1)} s  (${(cold / ideal).toFixed(2)}x ideal)`);
  console.log(`preheated  ${warm.toFixed(1)} s  (${(warm / ideal).toFixed(2)}x ideal)`);
  console.log(`cold / preheated = ${(cold / warm).toFixed(2)}`);
} finally {
  for (const p of running) await p.stop();
  origin?.kill('SIGTERM');
  await rm(root, { recursive: true, force: true });
}
