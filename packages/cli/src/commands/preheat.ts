import { Command, InvalidArgumentError } from 'commander';
import { ErrorCode, ShoalError, isDigest } from '@shoal/core';
import { option, parseDuration } from '../options.ts';
import { ProgressBar, formatBytes } from '../progress.ts';

/** A preheat job as `GET /v1/preheat/<id>` shows it (the fields this command reads). */
export interface PreheatJobView {
  id: string;
  state: 'running' | 'done' | 'failed' | 'cancelled';
  image?: { reference: string; digest: string };
  totalBytes: number | null;
  warmBytes: number;
  seconds?: number;
  blobs: Array<{ digest: string; size?: number; state: string; bytes: number; replica?: string; error?: { code: string; message: string } }>;
}

export interface PreheatOptions {
  /** A tracker replica's base URL. */
  tracker: string;
  platform?: string;
  /** Wait for the job to finish (default true). */
  wait?: boolean;
  /** Give up waiting after this long (the job carries on at the tracker). */
  timeoutMs?: number;
  /** Draw a progress bar (default: when stderr is a terminal). */
  progress?: boolean;
  /** Where lines of output go (default stdout). */
  print?: (line: string) => void;
  pollMs?: number;
}

/**
 * The body of `POST /v1/preheat` for command-line targets: at most one image reference, and
 * blobs as `sha256:<hex>` or `sha256:<hex>=<url>` (where to fetch it from).
 */
export function preheatBody(targets: readonly string[], platform?: string): Record<string, unknown> {
  const blobs: Array<string | { digest: string; url: string }> = [];
  let image: string | undefined;
  for (const target of targets) {
    const split = target.indexOf('=');
    const head = split < 0 ? target : target.slice(0, split);
    if (isDigest(head)) {
      if (split < 0) blobs.push(head);
      else blobs.push({ digest: head, url: target.slice(split + 1) });
      continue;
    }
    if (head.startsWith('sha256:')) throw new InvalidArgumentError(`"${head.slice(0, 80)}" is not a digest (sha256: and 64 lowercase hex digits)`);
    if (image !== undefined) throw new InvalidArgumentError('one image per preheat (run the command once per image)');
    image = target;
  }
  if (image === undefined && blobs.length === 0) throw new InvalidArgumentError('nothing to preheat: give an image reference or digests');
  if (platform !== undefined && image === undefined) throw new InvalidArgumentError('--platform applies to an image');
  return { ...(image !== undefined ? { image } : {}), ...(platform !== undefined ? { platform } : {}), ...(blobs.length > 0 ? { blobs } : {}) };
}

/**
 * The tracker to ask, from a value that may be the agent's tracker list (SHOAL_TRACKER): its
 * first entry, and a `dns+http://` name as a plain URL (any replica answers; a job is found
 * through whichever replica holds it).
 */
export function trackerBase(value: string): string {
  const first = value.split(',')[0]!.trim();
  return first.replace(/^dns\+/i, '').replace(/\/+$/, '');
}

async function answer(response: Response): Promise<unknown> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ShoalError(
      response.status === 404 ? ErrorCode.BLOB_UNKNOWN : response.status === 401 ? ErrorCode.ORIGIN_UNAUTHORIZED : response.status >= 500 ? ErrorCode.TRACKER_UNAVAILABLE : ErrorCode.INVALID_ARGUMENT,
      `tracker answered ${response.status}: ${error?.message ?? text.slice(0, 200)}`,
    );
  }
  return body;
}

/**
 * Asks a tracker to warm an image's blobs (or blobs by digest) before a rollout, and follows
 * the job: a progress bar on a terminal, a line per finished blob otherwise. Resolves with the
 * finished job; rejects when a blob could not be warmed, naming it and why.
 */
export async function preheat(targets: readonly string[], options: PreheatOptions): Promise<PreheatJobView> {
  const print = options.print ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const base = trackerBase(options.tracker);
  let job = (await answer(
    await fetch(`${base}/v1/preheat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(preheatBody(targets, options.platform)),
    }).catch((err: unknown) => {
      throw new ShoalError(ErrorCode.TRACKER_UNAVAILABLE, `cannot reach the tracker at ${base}: ${(err as Error).message}`);
    }),
  )) as PreheatJobView;
  print(`preheat ${job.id}: ${job.image ? `${job.image.reference} (${job.image.digest}), ` : ''}${job.blobs.length} blobs`);
  if (options.wait === false) return job;

  const bar = new ProgressBar(job.image?.reference ?? 'preheat', job.totalBytes ?? 0, options.progress);
  const reported = new Set<string>();
  const deadline = Date.now() + (options.timeoutMs ?? 3_600_000);
  for (;;) {
    bar.update(job.warmBytes, job.totalBytes ?? Math.max(job.warmBytes, 1));
    for (const blob of job.blobs) {
      if ((blob.state === 'seeding' || blob.state === 'failed') && !reported.has(blob.digest)) {
        reported.add(blob.digest);
        // On a terminal the bar shows progress; the failures are printed at the end.
        if (!options.progress) print(`${blob.state.padEnd(8)} ${blob.digest} ${blob.size !== undefined ? formatBytes(blob.size) : ''}${blob.error ? ` ${blob.error.code}: ${blob.error.message}` : ''}`);
      }
    }
    if (job.state !== 'running') break;
    if (Date.now() > deadline) {
      bar.finish();
      throw new ShoalError(ErrorCode.ABORTED, `preheat ${job.id} is still running after the timeout; follow it with GET ${base}/v1/preheat/${job.id}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 500));
    job = (await answer(await fetch(`${base}/v1/preheat/${job.id}`))) as PreheatJobView;
  }
  bar.finish();
  const failed = job.blobs.filter((b) => b.state !== 'seeding');
  if (failed.length > 0) {
    throw new ShoalError(
      failed[0]!.error?.code === ErrorCode.BLOB_UNKNOWN ? ErrorCode.BLOB_UNKNOWN : ErrorCode.ORIGIN_UNAVAILABLE,
      `preheat ${job.id} ${job.state}: ${failed.length} of ${job.blobs.length} blobs not warmed\n` +
        failed.map((b) => `  ${b.digest}: ${b.error ? `${b.error.code}: ${b.error.message}` : b.state}`).join('\n'),
    );
  }
  print(`preheated ${job.blobs.length} blobs (${formatBytes(job.totalBytes ?? job.warmBytes)}) in ${(job.seconds ?? 0).toFixed(1)} s`);
  return job;
}

export function preheatCommand(): Command {
  return new Command('preheat')
    .description('warm an image (every platform, or one) or blobs in the seeders before a rollout')
    .argument('<targets...>', 'an image reference (registry/repository:tag or @sha256:...), and/or sha256:<hex> or sha256:<hex>=<url> blobs')
    .addOption(option('--tracker <url>', 'a tracker replica (or the tracker Service)').default('http://127.0.0.1:7000'))
    .addOption(option('--platform <os/arch>', "only this platform's manifest of an image index, e.g. linux/amd64"))
    .option('--no-wait', 'start the job and print its id without following it')
    .addOption(option('--timeout <duration>', 'stop following the job after this long').default(3_600_000).argParser(parseDuration))
    .action(async (targets: string[], opts) => {
      await preheat(targets, {
        tracker: opts.tracker,
        ...(opts.platform ? { platform: opts.platform } : {}),
        wait: opts.wait,
        timeoutMs: opts.timeout,
        progress: process.stderr.isTTY === true,
      });
    });
}
