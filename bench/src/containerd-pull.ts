/**
 * Benchmark: a containerd pull of a multi-layer image (one big random layer) straight from the
 * registry, against the same pull through a warm Shoal agent (every blob already in its
 * store), in one run on this machine. Pulls alternate, each starting from an empty containerd
 * content store; the medians and their ratio are printed. Pull = fetch + unpack (`ctr images
 * pull`); fetch = download only (`ctr content fetch`), where the agent's share is clearer.
 *
 *   node bench/src/containerd-pull.ts [--big 512Mi] [--runs 5] [--keep]
 *
 * Needs root and the testbed (scripts/install-testbed.sh): containerd, docker-registry, skopeo.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Containerd, startContainerd } from './lib/containerd.ts';
import { pushMultiLayerImage } from './lib/images.ts';
import { makeTempDir, removeDir, run } from './lib/managed-process.ts';
import { SHOAL_MAIN } from './lib/processes.ts';
import { startRegistry } from './lib/registry.ts';
import { type ShoalDaemon, startShoalDaemon } from './lib/shoal-daemon.ts';
import { parseSize } from './lib/units.ts';

const { values } = parseArgs({
  options: {
    big: { type: 'string', default: '512Mi' },
    runs: { type: 'string', default: '5' },
    keep: { type: 'boolean', default: false },
  },
});
const bigBytes = parseSize(values.big!);
const runs = Number(values.runs);
const root = await makeTempDir('shoal-bench-containerd-');
const stops: Array<() => Promise<void>> = [];

try {
  const registry = await startRegistry();
  stops.push(() => registry.stop());
  process.stdout.write(`pushing a 3-layer image with a ${(bigBytes / 2 ** 20).toFixed(0)} MiB layer...\n`);
  const image = await pushMultiLayerImage(registry, { bigLayerMiB: bigBytes / 2 ** 20, repository: 'bench/app' });
  const imageBytes = image.config.size + image.layers.reduce((sum, l) => sum + l.size, 0);

  const upstreams = join(root, 'upstreams.json');
  await writeFile(upstreams, JSON.stringify({ [registry.host]: registry.url }));
  const tracker = await startShoalDaemon('tracker', ['--store', join(root, 'tracker'), '--advertise-host', '127.0.0.1', '--registry-endpoint', `${registry.host}=${registry.url}`]);
  stops.push(() => tracker.stop());
  const agent = await startShoalDaemon('agent', ['--tracker', tracker.url, '--store', join(root, 'agent'), '--upstream-config', upstreams]);
  stops.push(() => agent.stop());

  const hostsDir = join(root, 'certs.d');
  await run(process.execPath, [SHOAL_MAIN, 'agent', 'configure-containerd', '--certs-dir', hostsDir, '--mirror', agent.url, '--registry', registry.host, '--upstream-config', upstreams]);
  const containerd = await startContainerd({ hostsDir });
  stops.push(() => containerd.stop());

  // Warm the agent: one pull through it puts every blob in its store.
  await pull(containerd, image.ref, hostsDir, 'pull');
  await containerd.removeImage(image.ref);
  const servedBefore = await served(agent);

  const times = { direct: { pull: [] as number[], fetch: [] as number[] }, agent: { pull: [] as number[], fetch: [] as number[] } };
  for (let i = 0; i < runs; i++) {
    // Alternate which goes first, so that drift on a shared machine does not favour one side.
    const order: Array<'direct' | 'agent'> = i % 2 === 0 ? ['direct', 'agent'] : ['agent', 'direct'];
    for (const kind of ['pull', 'fetch'] as const) {
      for (const via of order) {
        times[via][kind].push(await pull(containerd, image.ref, via === 'agent' ? hostsDir : null, kind));
        await clear(containerd, image.ref, image.layers.map((l) => l.digest).concat(image.config.digest, image.manifest.digest));
      }
    }
  }
  const fromAgent = (await served(agent)) - servedBefore;

  const mib = imageBytes / 2 ** 20;
  const line = (label: string, direct: number[], viaAgent: number[]) => {
    const d = median(direct);
    const a = median(viaAgent);
    const all = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
    return (
      `${label.padEnd(26)} ${d.toFixed(2).padStart(7)} s ${a.toFixed(2).padStart(10)} s ${(a / d).toFixed(2).padStart(8)}   (${(mib / d).toFixed(0)} vs ${(mib / a).toFixed(0)} MiB/s)\n` +
      `${''.padEnd(26)} runs: registry ${all(direct)} | agent ${all(viaAgent)}\n`
    );
  };
  process.stdout.write(
    `image                      ${mib.toFixed(0)} MiB in ${image.layers.length} layers + config; ${runs} runs each, medians\n` +
      `                            registry   warm agent    ratio\n` +
      line('containerd pull (+unpack)', times.direct.pull, times.agent.pull) +
      line('containerd content fetch', times.direct.fetch, times.agent.fetch) +
      `agent served               ${(fromAgent / 2 ** 20).toFixed(0)} MiB from its store (${(fromAgent / imageBytes).toFixed(2)} images; expected ${2 * runs})\n`,
  );
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  if (values.keep) process.stdout.write(`files kept in ${root}\n`);
  else await removeDir(root);
}

/** Seconds for `ctr images pull` (fetch + unpack) or `ctr content fetch` (fetch only). */
async function pull(containerd: Containerd, ref: string, hostsDir: string | null, kind: 'pull' | 'fetch'): Promise<number> {
  const started = performance.now();
  if (kind === 'pull') await containerd.pull(ref, { hostsDir });
  else await containerd.ctr(['content', 'fetch', ...(hostsDir ? ['--hosts-dir', hostsDir] : []), ref]);
  return (performance.now() - started) / 1000;
}

/** Removes the image and its content, so the next pull starts from nothing. */
async function clear(containerd: Containerd, ref: string, digests: string[]): Promise<void> {
  await containerd.ctr(['images', 'rm', '--sync', ref]).catch(() => {});
  // `content fetch` leaves content without an image to collect it with: remove it by digest.
  await containerd.ctr(['content', 'rm', ...digests]).catch(() => {});
}

async function served(agent: ShoalDaemon): Promise<number> {
  const text = await (await fetch(`${agent.url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) if (line.startsWith('shoal_agent_served_bytes_total{')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
