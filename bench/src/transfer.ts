/**
 * Benchmark: one seeder to one agent, no rate limit, loopback. Prints the MB/s of verified
 * bytes written to the agent's store beside the node:crypto sha256 rate over the same data
 * in the same run (the ceiling: every byte must be hashed at least once).
 *
 *   node bench/src/transfer.ts [--size 2Gi] [--keep]
 */
import { createHash } from 'node:crypto';
import { open, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { generateBlob } from './lib/blobs.ts';
import { peakRssBytes, processCpuSeconds } from './lib/proc-stats.ts';
import { startShoal, waitFor } from './lib/processes.ts';
import { parseSize } from './lib/units.ts';

const { values } = parseArgs({ options: { size: { type: 'string', default: '2Gi' }, keep: { type: 'boolean', default: false } } });
const size = parseSize(values.size!);
const root = await mkdtemp(join(tmpdir(), 'shoal-transfer-'));
const processes: Array<{ stop(): Promise<void> }> = [];
try {
  process.stdout.write(`generating ${(size / 2 ** 20).toFixed(0)} MiB...\n`);
  const { digest, path } = await generateBlob(join(root, 'origin'), size);

  // The ceiling: sha256 of the same bytes, read from the page cache, on one core.
  const file = await open(path, 'r');
  const buffer = Buffer.allocUnsafe(4 << 20);
  const hash = createHash('sha256');
  const t0 = performance.now();
  for (let offset = 0; offset < size; ) {
    const { bytesRead } = await file.read(buffer, 0, buffer.length, offset);
    hash.update(buffer.subarray(0, bytesRead));
    offset += bytesRead;
  }
  hash.digest();
  const hashSeconds = (performance.now() - t0) / 1000;
  await file.close();

  const tracker = startShoal(['tracker', '--listen', '127.0.0.1:0', '--peer-port', '0', '--store', join(root, 'tracker'), '--origin-dir', join(root, 'origin'), '--log-level', 'info']);
  processes.push(tracker);
  const trackerUrl = await waitFor('tracker address', async () => addressFrom(tracker.output, 'tracker'));
  // Warm the seeder first: this measures the swarm, not the origin.
  await request(`${trackerUrl}/v1/metainfo/${digest}`).then((r) => r.body.text());
  await waitFor('seeder warm-up', async () => {
    const { blobs } = (await (await request(`${trackerUrl}/v1/blobs`)).body.json()) as { blobs: Array<{ state: string }> };
    return blobs[0]?.state === 'seeding' ? true : undefined;
  }, 600_000, 200);

  const agent = startShoal(['agent', '--listen', '127.0.0.1:0', '--peer-port', '0', '--tracker', trackerUrl, '--store', join(root, 'agent'), '--log-level', 'info']);
  processes.push(agent);
  const agentUrl = await waitFor('agent address', async () => addressFrom(agent.output, 'agent'));
  // CPU both processes spend on the transfer (all their threads): on 2 cores the two of them
  // compete, so CPU per GiB is what bounds the rate.
  const cpuBefore = await Promise.all([tracker, agent].map((p) => processCpuSeconds(p.child.pid!)));
  await request(`${agentUrl}/v1/blobs/${digest}`, { method: 'HEAD' }).then((r) => r.body.text());
  const status = await waitFor('agent download', async () => {
    const s = (await (await request(`${agentUrl}/v1/status`)).body.json()) as { blobs: Array<{ complete: boolean; durationMs: number; bytes: Record<string, number> }> };
    return s.blobs[0]?.complete ? s.blobs[0] : undefined;
  }, 600_000, 100);
  const cpuAfter = await Promise.all([tracker, agent].map((p) => processCpuSeconds(p.child.pid!)));
  const [seederRss, agentRss] = await Promise.all([tracker, agent].map((p) => peakRssBytes(p.child.pid!)));
  const [seederCpu, agentCpu] = cpuAfter.map((after, i) => ((after ?? NaN) - (cpuBefore[i] ?? NaN)) / (size / 2 ** 30));
  const seconds = status.durationMs / 1000;
  const mbps = size / 1e6 / seconds;
  const ceiling = size / 1e6 / hashSeconds;
  process.stdout.write(
    `blob                ${(size / 2 ** 20).toFixed(0)} MiB\n` +
      `seeder -> agent     ${seconds.toFixed(2)} s   ${mbps.toFixed(0)} MB/s of verified bytes stored\n` +
      `sha256 (one core)   ${hashSeconds.toFixed(2)} s   ${ceiling.toFixed(0)} MB/s\n` +
      `ratio               ${(mbps / ceiling).toFixed(2)} of the sha256 ceiling\n` +
      `CPU per GiB         seeder ${seederCpu!.toFixed(2)} s, agent ${agentCpu!.toFixed(2)} s (all threads)\n` +
      `peak memory         seeder ${mib(seederRss)}, agent ${mib(agentRss)}\n`,
  );
} finally {
  for (const p of processes.reverse()) await p.stop();
  if (!values.keep) await rm(root, { recursive: true, force: true });
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? '?' : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/** The daemon prints its URL in its "started" log line. */
function addressFrom(output: string[], kind: 'tracker' | 'agent'): string | undefined {
  for (const line of output.join('').split('\n')) {
    if (line.includes(`"msg":"${kind} started"`)) return (JSON.parse(line) as { url: string }).url;
  }
  return undefined;
}
