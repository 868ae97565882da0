import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { Command } from 'commander';
import { request } from 'undici';
import { ErrorCode, ShoalError, digestHex, parseDigest } from '@shoal/core';
import { option } from '../options.ts';
import { ProgressBar, formatBytes } from '../progress.ts';

export interface PullOptions {
  agent: string;
  output: string;
  url?: string;
  progress?: boolean;
}

/**
 * Fetches a blob through the node's agent into a file: written to a temporary name, checked
 * against the digest, then renamed into place, so the file never holds wrong bytes.
 */
export async function pull(digestArg: string, options: PullOptions): Promise<{ bytes: number; seconds: number }> {
  const digest = parseDigest(digestArg);
  const target = new URL(`/v1/blobs/${digest}`, options.agent);
  if (options.url) target.searchParams.set('url', options.url);
  const started = performance.now();
  const response = await request(target, { headersTimeout: 300_000, bodyTimeout: 300_000 });
  if (response.statusCode !== 200) {
    const text = await response.body.text();
    let message = text;
    try {
      message = (JSON.parse(text) as { error: { message: string } }).error.message;
    } catch {}
    throw new ShoalError(response.statusCode === 404 ? ErrorCode.BLOB_UNKNOWN : ErrorCode.ORIGIN_UNAVAILABLE, `agent answered ${response.statusCode}: ${message}`);
  }
  const total = Number(response.headers['content-length'] ?? 0);
  const progress = new ProgressBar(digest.slice(0, 19), total, options.progress);
  const temporary = `${options.output}.shoal-partial`;
  const file = createWriteStream(temporary);
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of response.body) {
      hash.update(chunk);
      bytes += chunk.length;
      progress.add(chunk.length);
      if (!file.write(chunk)) await once(file, 'drain');
    }
    file.end();
    await once(file, 'close');
    progress.finish();
    const actual = hash.digest('hex');
    if (actual !== digestHex(digest)) {
      throw new ShoalError(ErrorCode.DIGEST_MISMATCH, `received bytes hash to sha256:${actual}, not ${digest}`);
    }
    await rename(temporary, options.output);
  } catch (err) {
    file.destroy();
    await rm(temporary, { force: true });
    throw err;
  }
  return { bytes, seconds: (performance.now() - started) / 1000 };
}

export function pullCommand(): Command {
  return new Command('pull')
    .description('fetch a blob by digest through the local agent into a file')
    .argument('<digest>', 'sha256:<64 hex>')
    .requiredOption('-o, --output <file>', 'where to write the blob')
    .addOption(option('--agent <url>', 'the agent').default('http://127.0.0.1:5000'))
    .option('--url <url>', 'where the blob can be fetched from when no node has it (HTTP(S), presigned URLs too)')
    .action(async (digest: string, opts) => {
      const result = await pull(digest, { agent: opts.agent, output: opts.output, url: opts.url });
      process.stderr.write(`${formatBytes(result.bytes)} in ${result.seconds.toFixed(2)} s -> ${opts.output}\n`);
    });
}
