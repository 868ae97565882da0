import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ContentStore, ErrorCode, type Logger, errorMessage, isShoalError } from '@shoal/core';
import { RegistryClient } from '@shoal/origin';
import { request as undiciRequest } from 'undici';
import type { BlobService } from '../blob-service.ts';
import type { AgentMetrics } from '../metrics.ts';
import { BlobRoute, type FallbackMode } from './blob-route.ts';
import { ClientAccess } from './client-access.ts';
import { ManifestCache } from './manifest-cache.ts';
import { ManifestRoute } from './manifest-route.ts';
import { type MirrorRequest, isBasePath, parseMirrorRequest } from './mirror-request.ts';
import { API_VERSION_HEADERS, sendOciError } from './oci-response.ts';
import type { Upstreams } from './upstreams.ts';

export interface RegistryMirrorOptions {
  upstreams: Upstreams;
  blobs: BlobService;
  store: ContentStore;
  /** What to do with a blob the swarm cannot deliver: fetch it from the registry (origin) or answer 404 (none). */
  fallback: FallbackMode;
  metrics: AgentMetrics;
  logger: Logger;
  /** Manifests kept by digest (default: 32 MiB for 10 min). */
  manifestCache?: ManifestCache;
  /** Time to wait for a registry's response headers, in ms (default 10 s). */
  upstreamTimeoutMs?: number;
}

/**
 * The pull side of the OCI distribution API, as containerd uses a mirror (hosts.toml):
 * `GET /v2/`, `HEAD|GET /v2/<name>/manifests/<tag|digest>` and `HEAD|GET /v2/<name>/blobs/<digest>`,
 * each with `?ns=<registry>` naming the upstream. Manifests are proxied (ManifestRoute); blobs
 * come from the node's store or the swarm (BlobRoute); the client's credentials go to the
 * upstream registry only, never to peers, the tracker or the logs.
 */
export class RegistryMirror {
  readonly #options: RegistryMirrorOptions;
  readonly #log: Logger;
  readonly #manifests: ManifestRoute;
  readonly #blobs: BlobRoute;
  readonly #timeoutMs: number;

  constructor(options: RegistryMirrorOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.#timeoutMs = options.upstreamTimeoutMs ?? 10_000;
    const endpoints = { ...options.upstreams.endpoints };
    const transport = { headersTimeout: this.#timeoutMs };
    // Access checks must see the registry's own answer, not storage's: no redirects.
    const access = new ClientAccess({ client: new RegistryClient({ endpoints, ...transport, maxRedirects: 0 }) });
    this.#manifests = new ManifestRoute({
      client: new RegistryClient({ endpoints, ...transport }),
      cache: options.manifestCache ?? new ManifestCache(),
      access,
      logger: this.#log,
    });
    this.#blobs = new BlobRoute({
      blobs: options.blobs,
      store: options.store,
      access,
      fallback: options.fallback,
      metrics: options.metrics,
      logger: this.#log,
    });
  }

  /** Answers a request under `/v2/`. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    const abort = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) abort.abort();
    };
    res.once('close', onClose);
    let kind = 'base';
    let label = 'other';
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        // A pull-through mirror: no pushes, no deletes.
        sendOciError(req, res, 405, 'UNSUPPORTED', 'the Shoal agent is a pull-only registry mirror', { Allow: 'GET, HEAD' });
        return;
      }
      let request: MirrorRequest | undefined;
      try {
        if (isBasePath(path)) {
          const registry = this.#options.upstreams.registryFor(query.get('ns'));
          label = this.#options.upstreams.label(registry);
          if (this.#refuse(req, res, registry)) return;
          await this.#base(req, res, registry, abort.signal);
          return;
        }
        request = parseMirrorRequest(req, path, query, this.#options.upstreams);
      } catch (err) {
        if (!isShoalError(err, ErrorCode.INVALID_ARGUMENT)) throw err;
        sendOciError(req, res, 400, 'NAME_INVALID', errorMessage(err));
        return;
      }
      if (request && this.#refuse(req, res, request.registry)) return;
      if (!request) {
        kind = 'other';
        sendOciError(req, res, 404, 'UNSUPPORTED', `${path.slice(0, 200)} is not served by this mirror (manifests and blobs only)`);
        return;
      }
      kind = request.kind;
      label = request.label;
      if (request.kind === 'manifests') await this.#manifests.handle(req, res, request, abort.signal);
      else await this.#blobs.handle(req, res, request, abort.signal);
    } catch (err) {
      // A client that went away mid-body is not an error of ours.
      if (abort.signal.aborted) return;
      throw err;
    } finally {
      res.off('close', onClose);
      this.#options.metrics.registryRequest(label, kind, res.headersSent ? res.statusCode : 0);
    }
  }

  /**
   * Answers 404 for a registry outside `--registries`, before anything is fetched: containerd
   * then pulls from the registry itself (the hosts.toml `server`).
   */
  #refuse(req: IncomingMessage, res: ServerResponse, registry: string): boolean {
    if (this.#options.upstreams.allows(registry)) return false;
    sendOciError(req, res, 404, 'NAME_UNKNOWN', `this mirror does not serve ${registry} (see the agent's --registries)`);
    return true;
  }

  /**
   * `GET /v2/`: the version check. Clients other than containerd (skopeo, podman) learn from
   * its 401 which credentials to send, so the upstream's challenge is passed on; otherwise,
   * and when the upstream cannot be reached, the mirror itself answers 200.
   */
  async #base(req: IncomingMessage, res: ServerResponse, registry: string, signal: AbortSignal): Promise<void> {
    const authorization = req.headers.authorization;
    try {
      const response = await undiciRequest(`${this.#options.upstreams.endpoint(registry)}/v2/`, {
        method: 'GET',
        headers: authorization ? { authorization } : {},
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
        signal,
      });
      await response.body.dump({ limit: 64 * 1024 }).catch(() => {});
      const challenge = response.headers['www-authenticate'];
      if (response.statusCode === 401) {
        const headers: Record<string, string> = challenge ? { 'WWW-Authenticate': Array.isArray(challenge) ? challenge.join(', ') : challenge } : {};
        sendOciError(req, res, 401, 'UNAUTHORIZED', `${registry} requires authentication`, headers);
        return;
      }
    } catch (err) {
      if (signal.aborted) return;
      this.#log.debug({ registry, err: errorMessage(err) }, 'registry version check failed');
    }
    const body = '{}';
    res.writeHead(200, { ...API_VERSION_HEADERS, 'Content-Type': 'application/json', 'Content-Length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}
