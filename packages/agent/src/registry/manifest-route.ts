import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, type Logger, errorMessage, isDigest, isShoalError } from '@shoal/core';
import { MANIFEST_ACCEPT, type ManifestResponse, type RegistryClient, checkReference, fetchManifest } from '@shoal/origin';
import type { ClientAccess } from './client-access.ts';
import type { CachedManifest, ManifestCache } from './manifest-cache.ts';
import type { MirrorRequest } from './mirror-request.ts';
import { API_VERSION_HEADERS, refusalCode, sendOciError } from './oci-response.ts';

export interface ManifestRouteOptions {
  /** Proxies manifest requests (follows redirects, never runs its own auth flow here). */
  client: RegistryClient;
  cache: ManifestCache;
  access: ClientAccess;
  logger: Logger;
}

/** Longest client Accept header forwarded upstream; a longer one is replaced by ours. */
const MAX_ACCEPT_LENGTH = 2048;

/**
 * `HEAD|GET /v2/<name>/manifests/<tag|digest>?ns=<registry>`: proxied to the upstream
 * registry with the client's Authorization as-is; the agent is no tag authority, so a tag
 * always goes upstream. Answers other than 200 (401 with its WWW-Authenticate, 404, 429, 5xx)
 * reach the client as the registry sent them.
 *
 * Manifests fetched by GET are kept by digest (ManifestCache); a later GET by digest is
 * answered from there after a HEAD upstream with the client's credentials (ClientAccess), so
 * a private manifest is never handed to a client the registry would refuse.
 */
export class ManifestRoute {
  readonly #options: ManifestRouteOptions;
  readonly #log: Logger;

  constructor(options: ManifestRouteOptions) {
    this.#options = options;
    this.#log = options.logger;
  }

  async handle(req: IncomingMessage, res: ServerResponse, request: MirrorRequest, signal: AbortSignal): Promise<void> {
    const { registry, repository, reference, authorization } = request;
    try {
      checkReference(reference);
    } catch (err) {
      sendOciError(req, res, 400, 'TAG_INVALID', errorMessage(err));
      return;
    }
    if (isDigest(reference)) {
      const cached = this.#options.cache.get(reference);
      if (cached && (await this.#serveCached(req, res, request, cached, signal))) return;
    }
    let upstream: ManifestResponse;
    try {
      upstream = await fetchManifest(registry, repository, reference, {
        client: this.#options.client,
        method: req.method === 'HEAD' ? 'HEAD' : 'GET',
        accept: acceptOf(req.headers),
        // '' forwards "no credentials" as such: the registry's 401 must reach the client.
        authorization: authorization ?? '',
        signal,
      });
    } catch (err) {
      if (isShoalError(err, ErrorCode.ABORTED) || signal.aborted) return;
      this.#log.warn({ registry, repository, reference, err: errorMessage(err) }, 'manifest request to the registry failed');
      sendOciError(req, res, 502, 'UNAVAILABLE', errorMessage(err));
      return;
    }
    if (upstream.status !== 200) {
      passThrough(req, res, upstream);
      return;
    }
    if (req.method === 'HEAD') {
      const headers: Record<string, string> = { ...API_VERSION_HEADERS };
      const contentType = header(upstream.headers, 'content-type');
      const length = header(upstream.headers, 'content-length');
      if (contentType) headers['Content-Type'] = contentType;
      if (length) headers['Content-Length'] = length;
      if (upstream.digest) headers['Docker-Content-Digest'] = upstream.digest;
      res.writeHead(200, headers).end();
      return;
    }
    const manifest: CachedManifest = {
      digest: upstream.digest!,
      mediaType: upstream.mediaType ?? header(upstream.headers, 'content-type') ?? 'application/json',
      body: upstream.body,
    };
    this.#options.cache.set(manifest);
    sendManifest(req, res, manifest);
  }

  /** Answers from the cache when the registry lets this client read the manifest; false to ask upstream instead. */
  async #serveCached(req: IncomingMessage, res: ServerResponse, request: MirrorRequest, cached: CachedManifest, signal: AbortSignal): Promise<boolean> {
    const { registry, repository, authorization } = request;
    let decision;
    try {
      decision = await this.#options.access.check({ registry, repository, kind: 'manifests', digest: cached.digest, authorization, signal });
    } catch (err) {
      if (signal.aborted) return true;
      // The registry cannot be asked: a GET upstream will fail the same way and say so.
      this.#log.debug({ registry, repository, err: errorMessage(err) }, 'manifest access check failed');
      return false;
    }
    if (decision.allowed) {
      sendManifest(req, res, cached);
      return true;
    }
    const headers: Record<string, string> = decision.wwwAuthenticate ? { 'WWW-Authenticate': decision.wwwAuthenticate } : {};
    sendOciError(req, res, decision.status, refusalCode(decision.status, 'manifests'), `${registry}/${repository} answered ${decision.status} for ${cached.digest}`, headers);
    return true;
  }
}

function sendManifest(req: IncomingMessage, res: ServerResponse, manifest: CachedManifest): void {
  res.writeHead(200, {
    ...API_VERSION_HEADERS,
    'Content-Type': manifest.mediaType,
    'Content-Length': String(manifest.body.length),
    'Docker-Content-Digest': manifest.digest,
    ETag: `"${manifest.digest}"`,
  });
  res.end(req.method === 'HEAD' ? undefined : manifest.body);
}

/** The registry's non-200 answer, as it sent it (status, auth challenge, error body). */
function passThrough(req: IncomingMessage, res: ServerResponse, upstream: ManifestResponse): void {
  const headers: Record<string, string> = { ...API_VERSION_HEADERS };
  for (const name of ['content-type', 'www-authenticate', 'retry-after', 'docker-ratelimit-source', 'ratelimit-limit', 'ratelimit-remaining']) {
    const value = header(upstream.headers, name);
    if (value !== undefined) headers[name] = value;
  }
  if (req.method === 'HEAD') {
    res.writeHead(upstream.status, headers).end();
    return;
  }
  headers['content-length'] = String(upstream.body.length);
  res.writeHead(upstream.status, headers).end(upstream.body);
}

/**
 * The client's Accept when it names manifest media types (containerd's and skopeo's lists, so
 * the registry picks the format the client asked for), else ours: given a wildcard Accept,
 * distribution refuses to serve an OCI manifest at all.
 */
function acceptOf(headers: IncomingHttpHeaders): string {
  const accept = headers.accept;
  if (typeof accept !== 'string' || accept.length > MAX_ACCEPT_LENGTH || !accept.includes('application/vnd.')) return MANIFEST_ACCEPT;
  return accept;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
