import { ErrorCode, ShoalError } from '@shoal/core';
import { DEFAULT_TOKEN_TTL_S } from '../constants.ts';
import { type HttpResponse, type HttpTransportOptions, dump, httpRequest, readLimited } from '../http-client.ts';
import { redactUrl, statusError } from '../http-errors.ts';
import { SingleFlight } from '../single-flight.ts';
import {
  type RegistryCredential,
  type RegistryCredentials,
  type RegistryCredentialsProvider,
  basicAuthorization,
  staticCredentialsProvider,
} from './credentials.ts';
import { canonicalRegistry, normalizeRepository, registryEndpoint } from './names.ts';
import { type AuthChallenge, parseWwwAuthenticate } from './www-authenticate.ts';

/** Options of a {@link RegistryClient}. */
export interface RegistryClientOptions extends HttpTransportOptions {
  /**
   * Base URLs by registry name, e.g. `{ "127.0.0.1:5000": "http://127.0.0.1:5000" }` for a
   * plain-HTTP test registry or `{ "docker.io": "https://mirror.internal" }`. Default:
   * `https://<registry>`, and `https://registry-1.docker.io` for `docker.io`.
   */
  endpoints?: Record<string, string>;
  /** Credentials by registry (a provider, e.g. {@link fileCredentialsProvider}, or a fixed map). Default: anonymous. */
  credentials?: RegistryCredentialsProvider | RegistryCredentials;
  /** Tokens kept (per registry and scope); the oldest go first. Default 1000. */
  maxCachedTokens?: number;
  /** Clock in ms, for tests of token expiry. */
  now?: () => number;
}

/** One registry API request. */
export interface RegistryRequestInit {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Description for error messages. */
  what: string;
  /**
   * An Authorization header to send as-is, skipping our own auth flow: the agent's registry
   * mirror forwards its client's credentials, and a 401 must then reach that client.
   */
  authorization?: string;
}

interface CachedAuth {
  authorization: string;
  expiresAt: number;
}

/** The largest token response we read. */
const MAX_TOKEN_RESPONSE = 1 << 20;

/**
 * Speaks to OCI registries (the distribution API) on behalf of Shoal's origin, preheat and
 * mirror: maps registry names to base URLs and runs the auth flows.
 *
 * Auth: a request goes out with the cached Authorization for its (registry, scope), if any.
 * On 401, the `WWW-Authenticate` challenge decides: `Bearer realm=…,service=…,scope=…` gets
 * a token from the realm (with Basic credentials when configured for the registry,
 * anonymous otherwise), cached until `expires_in` (default 60 s) runs out; `Basic` (a
 * registry behind htpasswd) uses the configured credentials. Then the request is retried
 * once. Concurrent requests that meet the same 401 share one token request.
 *
 * Credentials go only to the registry and its token realm: the redirect to blob storage
 * that registries answer with drops them (see httpRequest), and a realm on plain HTTP gets
 * them only when the registry itself is configured as plain HTTP. They never appear in
 * errors or logs.
 */
export class RegistryClient {
  readonly #options: RegistryClientOptions;
  readonly #endpoints: Map<string, string>;
  readonly #credentials: RegistryCredentialsProvider;
  readonly #cache = new Map<string, CachedAuth>();
  readonly #tokenFlights = new SingleFlight<string, string>();
  readonly #now: () => number;

  constructor(options: RegistryClientOptions = {}) {
    this.#options = { ...options };
    this.#now = options.now ?? Date.now;
    this.#endpoints = new Map();
    for (const [registry, url] of Object.entries(options.endpoints ?? {})) {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new ShoalError(ErrorCode.INVALID_CONFIG, `registry endpoint for ${registry} is not a URL`);
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
        throw new ShoalError(ErrorCode.INVALID_CONFIG, `registry endpoint for ${registry} must be http(s)`);
      }
      this.#endpoints.set(canonicalRegistry(registry), url.replace(/\/+$/, ''));
    }
    const creds = options.credentials;
    this.#credentials = typeof creds === 'function' ? creds : staticCredentialsProvider(creds ?? new Map());
  }

  /** The base URL of a registry's API. */
  endpoint(registry: string): string {
    return registryEndpoint(registry, this.#endpoints);
  }

  /**
   * Sends `GET|HEAD /v2/<repository>/<suffix>` (e.g. `blobs/<digest>`, `manifests/<tag>`)
   * with the auth flow, following redirects. Returns the final response whatever its status;
   * the caller maps statuses (a 401 here means the flow could not get in). Throws
   * ORIGIN_UNAUTHORIZED when a challenge cannot be answered (no credentials for Basic,
   * token refused), ORIGIN_UNAVAILABLE on network failures.
   */
  async request(registry: string, repository: string, suffix: string, init: RegistryRequestInit): Promise<HttpResponse> {
    const name = canonicalRegistry(registry);
    const repo = normalizeRepository(name, repository);
    const url = new URL(`${this.endpoint(name)}/v2/${repo}/${suffix}`);
    const send = (authorization: string | undefined) =>
      httpRequest(url, {
        ...this.#transport(),
        method: init.method ?? 'GET',
        headers: { ...(init.headers ?? {}), ...(authorization ? { authorization } : {}) },
        signal: init.signal,
        what: init.what,
      });
    if (init.authorization !== undefined) return send(init.authorization);

    const scope = `repository:${repo}:pull`;
    const used = this.#cached(name, scope);
    const first = await send(used);
    if (first.statusCode !== 401) return first;
    const challenges = parseWwwAuthenticate(first.headers['www-authenticate']);
    await dump(first.body);
    const authorization = await this.#authorize(name, scope, challenges, used, url, init);
    return send(authorization);
  }

  /** Forgets every cached token (credentials rotated, tests). */
  clearTokens(): void {
    this.#cache.clear();
  }

  #transport(): HttpTransportOptions {
    const { dispatcher, headersTimeout, bodyTimeout, maxRedirects } = this.#options;
    return { dispatcher, headersTimeout, bodyTimeout, maxRedirects };
  }

  #cached(registry: string, scope: string): string | undefined {
    for (const key of [`${registry}|${scope}`, `${registry}|basic`]) {
      const hit = this.#cache.get(key);
      if (!hit) continue;
      if (hit.expiresAt > this.#now()) return hit.authorization;
      this.#cache.delete(key);
    }
    return undefined;
  }

  #remember(key: string, authorization: string, expiresAt: number): void {
    this.#cache.delete(key);
    this.#cache.set(key, { authorization, expiresAt });
    const max = this.#options.maxCachedTokens ?? 1000;
    while (this.#cache.size > max) this.#cache.delete(this.#cache.keys().next().value!);
  }

  /** Answers a 401's challenge: a fresh Authorization value, or ORIGIN_UNAUTHORIZED. */
  async #authorize(
    registry: string,
    scope: string,
    challenges: AuthChallenge[],
    used: string | undefined,
    url: URL,
    init: RegistryRequestInit,
  ): Promise<string> {
    const credential = this.#credentials(registry);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) {
      const key = `${registry}|${scope}`;
      // The cached token was refused (expired early, revoked): drop it and get another.
      if (used?.startsWith('Bearer ')) this.#cache.delete(key);
      return this.#tokenFlights.run(key, () => this.#fetchToken(registry, scope, bearer, credential, url, init));
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      if (!credential) {
        throw new ShoalError(
          ErrorCode.ORIGIN_UNAUTHORIZED,
          `${init.what}: registry ${registry} requires credentials (Basic auth) and none are configured for it`,
          { details: { registry } },
        );
      }
      const authorization = basicAuthorization(credential);
      if (used === authorization) {
        throw new ShoalError(ErrorCode.ORIGIN_UNAUTHORIZED, `${init.what}: registry ${registry} refused the configured credentials`, {
          details: { registry },
        });
      }
      this.#remember(`${registry}|basic`, authorization, Number.POSITIVE_INFINITY);
      return authorization;
    }
    throw new ShoalError(ErrorCode.ORIGIN_UNAUTHORIZED, `${init.what}: ${redactUrl(url)} answered 401 without a usable challenge`, {
      details: { registry },
    });
  }

  async #fetchToken(
    registry: string,
    scope: string,
    challenge: AuthChallenge,
    credential: RegistryCredential | undefined,
    registryUrl: URL,
    init: RegistryRequestInit,
  ): Promise<string> {
    const what = `token for ${registry} (${scope})`;
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm ?? '');
    } catch {
      throw new ShoalError(ErrorCode.ORIGIN_UNAUTHORIZED, `${init.what}: registry ${registry} sent a Bearer challenge without a valid realm`);
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
      throw new ShoalError(ErrorCode.ORIGIN_UNAUTHORIZED, `${init.what}: registry ${registry} sent a non-HTTP token realm`);
    }
    if (challenge.params.service) realm.searchParams.set('service', challenge.params.service);
    // Our scope (pull on this repository); the challenge's, when it names another, is added.
    realm.searchParams.append('scope', scope);
    if (challenge.params.scope && challenge.params.scope !== scope) realm.searchParams.append('scope', challenge.params.scope);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (credential) {
      if (realm.protocol === 'http:' && registryUrl.protocol !== 'http:') {
        throw new ShoalError(
          ErrorCode.ORIGIN_UNAUTHORIZED,
          `${init.what}: refusing to send credentials for ${registry} to a plain-HTTP token realm ${redactUrl(realm)}`,
        );
      }
      headers.authorization = basicAuthorization(credential);
    }
    const response = await httpRequest(realm, { ...this.#transport(), headers, signal: init.signal, what });
    if (response.statusCode === 401 || response.statusCode === 403) {
      await dump(response.body);
      throw new ShoalError(
        ErrorCode.ORIGIN_UNAUTHORIZED,
        `${init.what}: the token service of ${registry} refused ${credential ? 'the configured credentials' : 'anonymous access'} (HTTP ${response.statusCode})`,
        { details: { registry, status: response.statusCode } },
      );
    }
    if (response.statusCode !== 200) {
      await dump(response.body);
      throw statusError(response.statusCode, what, realm, response.headers);
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse((await readLimited(response, what, MAX_TOKEN_RESPONSE)).toString('utf8'));
    } catch (err) {
      if (err instanceof ShoalError) throw err;
      throw new ShoalError(ErrorCode.ORIGIN_UNAVAILABLE, `${what}: the token service answered something other than JSON`);
    }
    const token = typeof body.token === 'string' && body.token ? body.token : body.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new ShoalError(ErrorCode.ORIGIN_UNAVAILABLE, `${what}: the token service answered without a token`);
    }
    const ttl = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_TTL_S;
    // Renew a little early, so that a request does not leave with a token about to expire.
    const authorization = `Bearer ${token}`;
    this.#remember(`${registry}|${scope}`, authorization, this.#now() + ttl * 1000 * 0.9);
    return authorization;
  }
}
