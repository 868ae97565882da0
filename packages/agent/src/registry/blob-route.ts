import type { IncomingMessage, ServerResponse } from 'node:http';
import { type BlobSource, type ContentStore, ErrorCode, type Logger, errorMessage, isDigest, isShoalError } from '@shoal/core';
import { sendBlob } from '../blob-response.ts';
import type { BlobHandle, BlobService } from '../blob-service.ts';
import type { AgentMetrics } from '../metrics.ts';
import type { ClientAccess } from './client-access.ts';
import type { MirrorRequest } from './mirror-request.ts';
import { API_VERSION_HEADERS, refusalCode, sendOciError } from './oci-response.ts';

/** What the agent does with a blob the swarm cannot deliver. */
export type FallbackMode = 'origin' | 'none';

export interface BlobRouteOptions {
  blobs: BlobService;
  store: ContentStore;
  access: ClientAccess;
  fallback: FallbackMode;
  metrics: AgentMetrics;
  logger: Logger;
}

/**
 * `HEAD|GET /v2/<name>/blobs/<digest>?ns=<registry>`: a layer or config by digest, from the
 * node's store or through the swarm (the tracker's seeder fetches it from that registry's
 * repository on first demand), streamed in order as verified pieces arrive.
 *
 * The registry decides who may read: every request is checked with a HEAD upstream carrying
 * the client's own credentials (see ClientAccess) before a byte is sent, stored blobs
 * included. A refusal passes the registry's status and WWW-Authenticate on, so containerd can
 * fetch a token and ask again.
 *
 * When the blob cannot be had before the response starts, the answer is an error status
 * (404 with `--fallback none`, fast, so containerd moves on to the next host; 502 when even
 * the agent's own fetch from the registry failed): containerd then asks the registry itself.
 * After the response started, a failure cuts the connection; bytes known to be wrong are
 * never sent (see sendBlob).
 */
export class BlobRoute {
  readonly #options: BlobRouteOptions;
  readonly #log: Logger;

  constructor(options: BlobRouteOptions) {
    this.#options = options;
    this.#log = options.logger;
  }

  async handle(req: IncomingMessage, res: ServerResponse, request: MirrorRequest, signal: AbortSignal): Promise<void> {
    const { registry, repository, reference, authorization, label } = request;
    if (!isDigest(reference)) {
      sendOciError(req, res, 400, 'DIGEST_INVALID', `invalid digest ${JSON.stringify(reference.slice(0, 80))}: expected sha256:<64 lowercase hex>`);
      return;
    }
    const digest = reference;
    let decision;
    try {
      decision = await this.#options.access.check({ registry, repository, kind: 'blobs', digest, authorization, signal });
    } catch (err) {
      if (isShoalError(err, ErrorCode.ABORTED) || signal.aborted) return;
      this.#log.warn({ digest, registry, repository, err: errorMessage(err) }, 'cannot check blob access with the registry');
      sendOciError(req, res, 503, 'UNAVAILABLE', `cannot check with ${registry} that this client may read the blob: ${errorMessage(err)}`);
      return;
    }
    if (!decision.allowed) {
      const headers: Record<string, string> = decision.wwwAuthenticate ? { 'WWW-Authenticate': decision.wwwAuthenticate } : {};
      sendOciError(req, res, decision.status, refusalCode(decision.status, 'blobs'), `${registry}/${repository} answered ${decision.status} for ${digest}`, headers);
      return;
    }

    const { store } = this.#options;
    if (req.method === 'HEAD') {
      // A HEAD starts no download: the store or the registry's answer has the size.
      const size = store.has(digest) ? store.sizeOf(digest) : decision.size;
      if (size !== undefined) {
        res.writeHead(200, {
          ...API_VERSION_HEADERS,
          'Content-Type': 'application/octet-stream',
          'Content-Length': String(size),
          'Accept-Ranges': 'bytes',
          'Docker-Content-Digest': digest,
          ETag: `"${digest}"`,
        });
        res.end();
        return;
      }
    }

    const source: BlobSource = { kind: 'registry', registry, repository };
    let handle: BlobHandle;
    try {
      handle = await this.#options.blobs.open(digest, source);
    } catch (err) {
      this.#openFailed(req, res, err, request);
      return;
    }
    const started = performance.now();
    let stored = 0;
    try {
      await sendBlob(req, res, handle, {
        headers: { ...API_VERSION_HEADERS },
        onBytes: (bytes, from) => {
          this.#options.metrics.served(label, bytes);
          if (from === 'store') {
            stored += bytes;
            this.#options.metrics.storeHit(bytes);
          }
        },
      });
    } finally {
      handle.release();
    }
    if (handle.kind === 'stored' && stored > 0) {
      // A download logs its own "blob pulled" line when it completes; this is the line of a
      // pull the store answered.
      this.#log.info(
        {
          digest,
          registry,
          repository,
          size: handle.size,
          durationMs: Math.round(performance.now() - started),
          bytes: { store: stored, peer: 0, seeder: 0, origin: 0 },
        },
        'blob pulled',
      );
    }
  }

  #openFailed(req: IncomingMessage, res: ServerResponse, err: unknown, request: MirrorRequest): void {
    if (isShoalError(err, ErrorCode.ABORTED)) return;
    const { registry, repository, reference } = request;
    const message = errorMessage(err);
    if (isShoalError(err, ErrorCode.BLOB_UNKNOWN)) {
      sendOciError(req, res, 404, 'BLOB_UNKNOWN', message);
      return;
    }
    this.#log.warn({ digest: reference, registry, repository, err: message, fallback: this.#options.fallback }, 'cannot serve blob');
    if (this.#options.fallback === 'none') {
      sendOciError(req, res, 404, 'BLOB_UNKNOWN', `the swarm cannot serve this blob (${message}) and this agent does not fetch from registries itself (--fallback none)`);
      return;
    }
    sendOciError(req, res, 502, 'UNAVAILABLE', message);
  }
}
