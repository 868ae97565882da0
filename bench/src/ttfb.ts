/**
 * Benchmark: time to first byte of a large blob through the agent's registry mirror when the
 * seeder has the blob and the agent does not. Each run starts a fresh agent (empty store) and
 * asks it for the blob as containerd would (`GET /v2/<name>/blobs/<digest>?ns=<registry>`);
 * the first byte cannot leave before the first piece has arrived and been verified, so the
 * figure to compare against the target (100 ms + one piece) is TTFB minus the time one piece
 * takes at the throughput the same response reached afterwards. Before the measured request
 * each agent pulls a small other blob, so the figure is a running agent's (connections to the
 * tracker and registry open, code warm), not a process start's.
 *
 *   node bench/src/ttfb.ts [--size 1Gi] [--runs 5] [--keep]
 *
 * Needs the testbed (scripts/install-testbed.sh): docker-registry, skopeo.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { encodeSource } from '@shoal/core';
import { pushModelArtifact } from './lib/images.ts';
import { makeTempDir, removeDir } from './lib/managed-process.ts';
import { waitFor } from './lib/processes.ts';
import { startRegistry } from './lib/registry.ts';
import { startShoalDaemon } from './lib/shoal-daemon.ts';
import { parseSize } from './lib/units.ts';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '1Gi' },
    runs: { type: 'string', default: '5' },
    keep: { type: 'boolean', default: false },
  },
});
const size = parseSize(values.size!);
const runs = Number(values.runs);
const root = await makeTempDir('shoal-bench-ttfb-');
const stops: Array<() => Promise<void>> = [];

try {
  const registry = await startRegistry();
  stops.push(() => registry.stop());
  process.stdout.write(`pushing a ${(size / 2 ** 20).toFixed(0)} MiB model artifact...\n`);
  const repository = 'bench/model';
  const model = await pushModelArtifact(registry, { sizeMiB: size / 2 ** 20, repository });
  const layer = model.layers[0]!;
  const warmUp = await pushModelArtifact(registry, { sizeMiB: 1, repository: 'bench/warm-up' });

  const upstreams = join(root, 'upstreams.json');
  await writeFile(upstreams, JSON.stringify({ [registry.host]: registry.url }));
  const tracker = await startShoalDaemon('tracker', ['--store', join(root, 'tracker'), '--advertise-host', '127.0.0.1', '--registry-endpoint', `${registry.host}=${registry.url}`]);
  stops.push(() => tracker.stop());

  // The seeder gets the whole blob first: this measures the agent, not the registry.
  const source = encodeSource({ kind: 'registry', registry: registry.host, repository });
  const meta = (await (await request(`${tracker.url}/v1/metainfo/${layer.digest}?source=${source}`)).body.json()) as { pieceLength: number };
  await waitFor(
    'the seeder to hold the blob',
    async () => {
      const { blobs } = (await (await request(`${tracker.url}/v1/blobs`)).body.json()) as { blobs: Array<{ digest: string; state: string }> };
      return blobs.find((b) => b.digest === layer.digest)?.state === 'seeding' ? true : undefined;
    },
    600_000,
    200,
  );

  const results: Array<{ ttfb: number; pieceMs: number; mbps: number }> = [];
  for (let i = 0; i < runs; i++) {
    const agent = await startShoalDaemon('agent', ['--tracker', tracker.url, '--store', join(root, `agent-${i}`), '--upstream-config', upstreams]);
    try {
      const warm = await request(`${agent.url}/v2/bench/warm-up/blobs/${warmUp.layers[0]!.digest}?ns=${registry.host}`);
      await warm.body.arrayBuffer();
      if (warm.statusCode !== 200) throw new Error(`warm-up pull answered ${warm.statusCode}`);
      const started = performance.now();
      const response = await request(`${agent.url}/v2/${repository}/blobs/${layer.digest}?ns=${registry.host}`, { bodyTimeout: 600_000 });
      if (response.statusCode !== 200) throw new Error(`agent answered ${response.statusCode}: ${await response.body.text()}`);
      const hash = createHash('sha256');
      let firstAt = 0;
      let received = 0;
      for await (const chunk of response.body) {
        if (received === 0) firstAt = performance.now();
        received += (chunk as Buffer).length;
        hash.update(chunk as Buffer);
      }
      const endedAt = performance.now();
      if (`sha256:${hash.digest('hex')}` !== layer.digest || received !== size) throw new Error('the agent sent wrong bytes');
      const ttfb = firstAt - started;
      // Throughput once bytes flowed; one piece at that rate is what the first byte had to wait for.
      const bytesPerMs = (size - Math.min(size, meta.pieceLength)) / (endedAt - firstAt);
      const pieceMs = meta.pieceLength / bytesPerMs;
      results.push({ ttfb, pieceMs, mbps: (bytesPerMs * 1000) / 1e6 });
      process.stdout.write(`run ${i + 1}: first byte after ${ttfb.toFixed(0)} ms; one piece takes ${pieceMs.toFixed(0)} ms at ${(bytesPerMs / 1000).toFixed(0)} MB/s\n`);
    } finally {
      await agent.stop();
    }
  }

  const median = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  const ttfb = median(results.map((r) => r.ttfb));
  const pieceMs = median(results.map((r) => r.pieceMs));
  const overhead = median(results.map((r) => r.ttfb - r.pieceMs));
  process.stdout.write(
    `blob                 ${(size / 2 ** 20).toFixed(0)} MiB, pieces of ${(meta.pieceLength / 2 ** 20).toFixed(0)} MiB; ${runs} fresh agents, medians\n` +
      `time to first byte   ${ttfb.toFixed(0)} ms\n` +
      `one piece            ${pieceMs.toFixed(0)} ms (at the response's own rate, ${median(results.map((r) => r.mbps)).toFixed(0)} MB/s)\n` +
      `TTFB - one piece     ${overhead.toFixed(0)} ms (target <= 100 ms)\n`,
  );
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  if (values.keep) process.stdout.write(`files kept in ${root}\n`);
  else await removeDir(root);
}
