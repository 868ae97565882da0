import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, mkdir, rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { Agent } from '@shoal/agent';
import { type Digest, createLogger, parseDigest } from '@shoal/core';
import { DirectoryOrigin } from '@shoal/origin';
import { Tracker } from '@shoal/tracker';
import { option, parseBytes } from '../options.ts';
import { formatBytes } from '../progress.ts';
import { pull } from './pull.ts';

export interface DemoOptions {
  agents: number;
  size: number;
  /** Per-agent download and upload cap in bytes/s (0: unlimited). */
  rate: number;
  keep: boolean;
}

/** Writes `size` random bytes into an OCI-layout-style directory and returns the digest. */
async function generateBlob(dir: string, size: number): Promise<Digest> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const temporary = join(blobs, 'incoming');
  const file = createWriteStream(temporary);
  const hash = createHash('sha256');
  for (let written = 0; written < size; ) {
    const chunk = randomBytes(Math.min(4 << 20, size - written));
    hash.update(chunk);
    if (!file.write(chunk)) await once(file, 'drain');
    written += chunk.length;
  }
  file.end();
  await once(file, 'close');
  const digest = parseDigest(`sha256:${hash.digest('hex')}`);
  await rename(temporary, join(blobs, digest.slice(7)));
  return digest;
}

/**
 * Runs a tracker and a few agents on loopback, has every agent pull one generated blob at
 * once, and prints how long each took and where its bytes came from.
 */
export async function runDemo(options: DemoOptions, print: (line: string) => void = console.log): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'shoal-demo-'));
  const logger = createLogger({ level: 'warn' });
  const started: Array<{ stop(): Promise<void> }> = [];
  try {
    print(`generating a ${formatBytes(options.size)} blob...`);
    const digest = await generateBlob(join(root, 'origin'), options.size);
    const tracker = new Tracker({
      host: '127.0.0.1',
      port: 0,
      peerHost: '127.0.0.1',
      peerPort: 0,
      advertiseHost: '127.0.0.1',
      storeDir: join(root, 'tracker'),
      origins: [new DirectoryOrigin({ root: join(root, 'origin') })],
      uploadRate: options.rate,
      logger,
    });
    await tracker.start();
    started.push(tracker);
    const agents: Agent[] = [];
    for (let i = 0; i < options.agents; i++) {
      const agent = new Agent({
        host: '127.0.0.1',
        port: 0,
        peerHost: '127.0.0.1',
        peerPort: 0,
        trackers: [tracker.url],
        storeDir: join(root, `agent-${i}`),
        downloadRate: options.rate,
        uploadRate: options.rate,
        logger,
      });
      await agent.start();
      started.push(agent);
      agents.push(agent);
    }
    const rate = options.rate > 0 ? ` at ${formatBytes(options.rate)}/s per node` : '';
    print(`${options.agents} agents pull ${digest.slice(0, 19)}... (${formatBytes(options.size)}) from one seeder${rate}`);
    const t0 = performance.now();
    const results = await Promise.all(
      agents.map(async (agent, i) => {
        const result = await pull(digest, { agent: agent.url, output: join(root, `pulled-${i}`), progress: false });
        return { ...result, done: (performance.now() - t0) / 1000 };
      }),
    );
    const total = (performance.now() - t0) / 1000;
    print('');
    print('agent  seconds  from seeder  from peers   uploaded to peers');
    for (const [i, agent] of agents.entries()) {
      const [download] = await agent.blobs.active();
      const bytes = download?.bytes ?? { seeder: 0, peer: 0, origin: 0 };
      print(
        `${String(i).padEnd(6)} ${results[i]!.done.toFixed(2).padStart(7)}  ${formatBytes(bytes.seeder).padStart(11)}  ${formatBytes(bytes.peer).padStart(10)}   ${formatBytes(download?.swarm.uploadedBytes ?? 0).padStart(10)}`,
      );
    }
    const [seeded] = await tracker.seeder.list();
    const seederUploaded = seeded?.swarm.uploadedBytes ?? 0;
    print('');
    print(`all ${options.agents} agents have the verified blob after ${total.toFixed(2)} s`);
    print(`origin read ${((seeded?.originBytes ?? 0) / options.size).toFixed(2)} copies; the seeder uploaded ${(seederUploaded / options.size).toFixed(2)} copies; peers supplied the rest`);
    if (options.keep) print(`files kept in ${root}`);
  } finally {
    for (const daemon of started.reverse()) await daemon.stop().catch(() => {});
    if (!options.keep) await rm(root, { recursive: true, force: true });
  }
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('run a tracker and a few agents on loopback and swarm a generated blob between them')
    .addOption(option('--agents <n>', 'number of agents').default(4).argParser(Number))
    .addOption(option('--size <bytes>', 'blob size').default(parseBytes('256Mi')).argParser(parseBytes))
    .addOption(option('--rate <bytes/s>', 'per-node download and upload cap, 0 for none').default(parseBytes('100MB/s')).argParser(parseBytes))
    .option('--keep', 'keep the temporary files')
    .action(async (opts) => {
      await runDemo({ agents: opts.agents, size: opts.size, rate: opts.rate, keep: Boolean(opts.keep) });
    });
}
