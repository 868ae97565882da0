import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { type Digest, ErrorCode, ShoalError, isShoalError, shortDigest } from '@shoal/core';
import { MANIFEST_ACCEPT, type RegistryClient, SingleFlight } from '@shoal/origin';

/** What the upstream registry said about one client reading one blob or manifest. */
export type AccessDecision =
  | {
      allowed: true;
      /** The size the registry announced (Content-Length of a 200), when it did. */
      size: number | undefined;
    }
  | {
      allowed: false;
      /** The registry's status: 401/403 (credentials), 404 (not in this repository). */
      status: number;
      /** `WWW-Authenticate`, passed on so the client can get a token. */
      wwwAuthenticate: string | undefined;
    };

export interface ClientAccessOptions {
  /**
   * Sends the checks. It must not follow redirects: a registry that answers a blob HEAD
   * with a redirect to storage has already authorised the request, and storage URLs signed
   * for GET may refuse a HEAD.
   */
  client: RegistryClient;
  /** How long an allowed answer is reused (default 60 s). */
  allowTtlMs?: number;
  /** How long a refusal is reused (default 5 s: a client that just got a token asks again at once). */
  denyTtlMs?: number;
  /**
   * How long after it expired an allowed answer may still be used when the registry cannot be
   * reached (default 10 min): a registry outage should not stop a node from serving a blob
   * that this very client was allowed to read a moment ago.
   */
  staleIfErrorMs?: number;
  /** Answers kept at most (default 10,000; the oldest go first). */
  maxEntries?: number;
  /** Clock in ms, for tests. */
  now?: () => number;
}

interface Entry {
  decision: AccessDecision;
  expiresAt: number;
}

/** What is being read: a blob or a manifest, by digest, in a repository of a registry. */
export interface AccessRequest {
  registry: string;
  repository: string;
  kind: 'blobs' | 'manifests';
  digest: Digest;
  /** The client's Authorization header, forwarded as-is (undefined: anonymous). */
  authorization: string | undefined;
  signal?: AbortSignal;
}

/**
 * Decides whether a client may read a blob or manifest the agent already holds (in its
 * store, in a download, in the manifest cache): it asks the upstream registry with a HEAD of
 * that digest in that repository, carrying the client's own Authorization. Bytes that the
 * agent got with the seeder's credentials, or for another node, are served only when the
 * registry would have served them to this client.
 *
 * Every read is checked, public repositories included, because the agent cannot know in
 * advance which repositories need credentials, and because a repository that a client can
 * read does not make every digest readable through it: the registry answers 404 for a blob
 * that belongs to another (private) repository. Answers are cached briefly, keyed by a hash
 * of the Authorization value (never the value itself), so one pull costs one HEAD per blob.
 */
export class ClientAccess {
  readonly #client: RegistryClient;
  readonly #allowTtlMs: number;
  readonly #denyTtlMs: number;
  readonly #staleIfErrorMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #flights = new SingleFlight<string, AccessDecision>();

  constructor(options: ClientAccessOptions) {
    this.#client = options.client;
    this.#allowTtlMs = options.allowTtlMs ?? 60_000;
    this.#denyTtlMs = options.denyTtlMs ?? 5_000;
    this.#staleIfErrorMs = options.staleIfErrorMs ?? 600_000;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The registry's answer for this client. Throws ORIGIN_UNAVAILABLE when the registry
   * cannot be asked and no recent allowed answer for the same client exists.
   */
  async check(request: AccessRequest): Promise<AccessDecision> {
    const key = createHash('sha256')
      .update(JSON.stringify([request.registry, request.repository, request.kind, request.digest, request.authorization ?? '']))
      .digest('base64url');
    const entry = this.#entries.get(key);
    const now = this.#now();
    if (entry && entry.expiresAt > now) return entry.decision;
    return this.#flights.run(key, async () => {
      let decision: AccessDecision;
      try {
        decision = await this.#ask(request);
      } catch (err) {
        const stale = this.#entries.get(key);
        if (stale?.decision.allowed && stale.expiresAt + this.#staleIfErrorMs > this.#now() && !isShoalError(err, ErrorCode.ABORTED)) {
          return stale.decision;
        }
        throw err;
      }
      this.#remember(key, decision);
      return decision;
    });
  }

  async #ask(request: AccessRequest): Promise<AccessDecision> {
    const { registry, repository, kind, digest } = request;
    const what = `access check of ${kind === 'blobs' ? 'blob' : 'manifest'} ${shortDigest(digest)} in ${registry}/${repository}`;
    const response = await this.#client.request(registry, repository, `${kind}/${digest}`, {
      method: 'HEAD',
      headers: kind === 'manifests' ? { accept: MANIFEST_ACCEPT } : {},
      // '' sends no Authorization and skips the client's own auth flow: the question is
      // what the registry lets *this client* read, never what Shoal's credentials can.
      authorization: request.authorization ?? '',
      ...(request.signal ? { signal: request.signal } : {}),
      what,
    });
    await response.body.dump({ limit: 64 * 1024 }).catch(() => {});
    const status = response.statusCode;
    if (status >= 200 && status < 400) {
      const length = Number(first(response.headers, 'content-length'));
      return { allowed: true, size: status === 200 && Number.isSafeInteger(length) && length >= 0 ? length : undefined };
    }
    if (status === 401 || status === 403 || status === 404) {
      return { allowed: false, status, wwwAuthenticate: first(response.headers, 'www-authenticate') };
    }
    throw new ShoalError(ErrorCode.ORIGIN_UNAVAILABLE, `${what}: the registry answered HTTP ${status}`, { details: { status } });
  }

  #remember(key: string, decision: AccessDecision): void {
    this.#entries.delete(key);
    this.#entries.set(key, { decision, expiresAt: this.#now() + (decision.allowed ? this.#allowTtlMs : this.#denyTtlMs) });
    while (this.#entries.size > this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
  }
}

function first(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
