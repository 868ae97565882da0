import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Logger, badRequest, errorMessage, sendJson } from '@shoal/core';
import { type RegistryClient, formatImageReference, listImageBlobs } from '@shoal/origin';
import type { BlobWarmer } from './blob-warmers.ts';
import { PreheatJob, type PreheatJobInit } from './preheat-job.ts';
import { type PreheatRequest, parsePreheatRequest } from './preheat-request.ts';

export interface PreheatServiceOptions {
  /** Warms each blob where agents will look for it (this seeder, or the owner replica). */
  warmer: BlobWarmer;
  /** Reads image manifests: the registry origin's client (endpoints, credentials, token cache). */
  registry: RegistryClient;
  /** Blobs one job warms at once (default 4; the origin-wide rate limit still applies). */
  concurrency?: number;
  /** Jobs kept in memory, the oldest finished ones dropped first (default 200). */
  maxJobs?: number;
  /** How long a finished job stays visible (default 1 h). */
  retainMs?: number;
  /** The tracker replicas (base URLs), to find a job that another replica accepted. */
  peers?: () => readonly string[];
  logger: Logger;
}

/** Largest preheat request body. */
const MAX_BODY_BYTES = 1 << 20;
const ID_RE = /^[0-9a-f]{16}$/;

/**
 * The preheat API: `POST /v1/preheat` (an image, or blobs by digest and URL) starts a job that
 * warms every blob before a rollout; `GET /v1/preheat/<id>` shows its progress per blob;
 * `GET /v1/preheat` lists the jobs. Jobs live in memory on the replica that accepted them
 * (no database); a GET for a job another replica holds is answered from that replica.
 *
 * Owns a timer that forgets finished jobs: `start()` / `stop()` (which cancels running jobs).
 */
export class PreheatService {
  readonly #options: PreheatServiceOptions;
  readonly #log: Logger;
  readonly #jobs = new Map<string, PreheatJob>();
  #sweep: NodeJS.Timeout | undefined;

  constructor(options: PreheatServiceOptions) {
    this.#options = options;
    this.#log = options.logger;
  }

  start(): void {
    this.#sweep = setInterval(() => this.#forgetOld(), 60_000);
    this.#sweep.unref();
  }

  stop(): void {
    clearInterval(this.#sweep);
    for (const job of this.#jobs.values()) job.cancel();
  }

  get(id: string): PreheatJob | undefined {
    return this.#jobs.get(id);
  }

  list(): PreheatJob[] {
    return [...this.#jobs.values()];
  }

  /** Resolves what the request names (an image's manifests are read now) and starts warming. */
  async create(preheat: PreheatRequest): Promise<PreheatJob> {
    const blobs: PreheatJobInit['blobs'] = [];
    let image: PreheatJobInit['image'];
    if (preheat.image) {
      const ref = preheat.image;
      const listed = await listImageBlobs(ref.registry, ref.repository, ref.reference, {
        client: this.#options.registry,
        ...(preheat.platform ? { platform: preheat.platform } : {}),
      });
      const source = { kind: 'registry' as const, registry: ref.registry, repository: ref.repository };
      for (const b of listed.blobs) blobs.push({ digest: b.digest, size: b.size, mediaType: b.mediaType, source });
      const p = preheat.platform;
      image = {
        reference: formatImageReference(ref),
        digest: listed.digest,
        ...(p ? { platform: `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}` } : {}),
        manifests: listed.manifests.length,
      };
    }
    const seen = new Set(blobs.map((b) => b.digest));
    for (const b of preheat.blobs) {
      if (!seen.has(b.digest)) blobs.push({ digest: b.digest, ...(b.source ? { source: b.source } : {}) });
      seen.add(b.digest);
    }
    const job = new PreheatJob({ id: randomBytes(8).toString('hex'), ...(image ? { image } : {}), blobs });
    this.#jobs.set(job.id, job);
    this.#trim();
    this.#log.info({ job: job.id, image: image?.reference, blobs: blobs.length }, 'preheat started');
    void job.run(this.#options.warmer, this.#options.concurrency ?? 4).then(() => {
      const failed = job.blobs.filter((b) => b.state === 'failed');
      this.#log[failed.length > 0 ? 'warn' : 'info'](
        {
          job: job.id,
          state: job.state,
          blobs: job.blobs.length,
          seconds: (job.finishedAt!.getTime() - job.createdAt.getTime()) / 1000,
          ...(failed.length > 0 ? { failed: failed.map((b) => ({ digest: b.digest, code: b.error?.code })) } : {}),
        },
        'preheat finished',
      );
    });
    return job;
  }

  /** Handles `/v1/preheat` and `/v1/preheat/<id>`. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    if (path === '/v1/preheat') {
      if (req.method === 'POST') {
        const job = await this.create(parsePreheatRequest(await readJson(req)));
        res.setHeader('Location', `/v1/preheat/${job.id}`);
        sendJson(res, 202, job);
        return;
      }
      if (req.method === 'GET' || req.method === 'HEAD') {
        sendJson(res, 200, { jobs: this.list().map((j) => ({ id: j.id, state: j.state, image: j.image?.reference, blobs: j.blobs.length, createdAt: j.createdAt })) });
        return;
      }
      res.writeHead(405, { Allow: 'GET, HEAD, POST' }).end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    const id = path.slice('/v1/preheat/'.length);
    const job = ID_RE.test(id) ? this.#jobs.get(id) : undefined;
    if (job) return sendJson(res, 200, job);
    // Another replica may hold it (a Service in front of the replicas spreads requests).
    const elsewhere = ID_RE.test(id) && query.get('local') === null ? await this.#fromPeers(id) : undefined;
    if (elsewhere) return sendJson(res, 200, elsewhere);
    sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `no preheat job ${id.slice(0, 40)}` } });
  }

  async #fromPeers(id: string): Promise<unknown> {
    for (const peer of this.#options.peers?.() ?? []) {
      try {
        const response = await fetch(`${peer}/v1/preheat/${id}?local=1`, { signal: AbortSignal.timeout(5000) });
        if (response.status === 200) return await response.json();
        await response.body?.cancel();
      } catch (err) {
        this.#log.debug({ peer, err: errorMessage(err) }, 'replica did not answer for a preheat job');
      }
    }
    return undefined;
  }

  /** Drops the oldest finished jobs beyond `maxJobs`. */
  #trim(): void {
    const max = this.#options.maxJobs ?? 200;
    for (const [id, job] of this.#jobs) {
      if (this.#jobs.size <= max) return;
      if (job.finished) this.#jobs.delete(id);
    }
  }

  #forgetOld(): void {
    const retain = this.#options.retainMs ?? 3_600_000;
    const now = Date.now();
    for (const [id, job] of this.#jobs) if (job.finishedAt && now - job.finishedAt.getTime() > retain) this.#jobs.delete(id);
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > MAX_BODY_BYTES) throw badRequest(`the preheat request exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw badRequest('the preheat request is not JSON');
  }
}
