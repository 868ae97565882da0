import { readFileSync } from 'node:fs';
import { ErrorCode, ShoalError } from '@shoal/core';
import { DOCKER_HUB, DOCKER_HUB_ENDPOINT, canonicalRegistry } from '@shoal/origin';

/** Registry host -> base URL of its API, as in `--upstream-config` (`{"docker.io": "https://registry-1.docker.io"}`). */
export type UpstreamConfig = Readonly<Record<string, string>>;

/**
 * Parses an upstream map: a JSON object whose keys are registry hosts (what containerd sends
 * as `?ns=`, e.g. `docker.io`, `ghcr.io`, `registry.example.com:5000`) and whose values are
 * the http(s) base URLs of their APIs. Keys are canonicalised (`index.docker.io` is
 * `docker.io`); values lose trailing slashes. Throws INVALID_CONFIG naming the bad entry.
 */
export function parseUpstreamConfig(json: unknown, what = 'upstream config'): UpstreamConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ShoalError(ErrorCode.INVALID_CONFIG, `${what}: expected a JSON object of "<registry host>": "<url>"`);
  }
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    let registry: string;
    try {
      registry = canonicalRegistry(key);
    } catch {
      throw new ShoalError(ErrorCode.INVALID_CONFIG, `${what}: ${JSON.stringify(key.slice(0, 100))} is not a registry host`);
    }
    if (typeof value !== 'string') throw new ShoalError(ErrorCode.INVALID_CONFIG, `${what}: the URL of ${registry} must be a string`);
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new ShoalError(ErrorCode.INVALID_CONFIG, `${what}: the URL of ${registry} is not a URL`);
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.username || url.password) {
      // Credentials in the URL would end up in logs; they belong in the credentials file.
      throw new ShoalError(ErrorCode.INVALID_CONFIG, `${what}: the URL of ${registry} must be http(s)://host[:port][/path], without user, query or fragment`);
    }
    result[registry] = value.replace(/\/+$/, '');
  }
  return Object.freeze(result);
}

/** Reads and parses an `--upstream-config` file (see {@link parseUpstreamConfig}). */
export function loadUpstreamConfig(path: string): UpstreamConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ShoalError(ErrorCode.INVALID_CONFIG, `cannot read upstream config ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ShoalError(ErrorCode.INVALID_CONFIG, `upstream config ${path} is not valid JSON: ${(err as Error).message}`);
  }
  return parseUpstreamConfig(json, `upstream config ${path}`);
}

/**
 * Where the mirror sends each registry's requests, and how a registry appears in metrics.
 *
 * A registry in the config goes to its URL; Docker Hub (`docker.io`) to
 * `https://registry-1.docker.io`; any other to `https://<host>`, as containerd itself would.
 * Requests without `?ns=` (clients other than containerd: skopeo, crane, Docker's
 * registry-mirrors) are for the default registry, Docker Hub unless configured otherwise.
 */
export class Upstreams {
  /** Endpoints for a RegistryClient (configured entries and Docker Hub). */
  readonly endpoints: Readonly<Record<string, string>>;
  readonly defaultRegistry: string;
  readonly #known: ReadonlySet<string>;
  /** The registries the mirror serves, when restricted (`--registries`); undefined: all. */
  readonly #allowed: ReadonlySet<string> | undefined;

  /**
   * @param allowed when given, the only registries the mirror serves (the default registry
   *   among them): `ns` comes from whoever reaches the agent's port, and without a list any of
   *   them can make this agent, and the seeder it asks, fetch from any host
   */
  constructor(config: UpstreamConfig = {}, defaultRegistry = DOCKER_HUB, allowed?: readonly string[]) {
    this.endpoints = Object.freeze({ [DOCKER_HUB]: DOCKER_HUB_ENDPOINT, ...parseUpstreamConfig(config) });
    this.defaultRegistry = configuredRegistry(defaultRegistry, 'default registry');
    this.#known = new Set([...Object.keys(this.endpoints), this.defaultRegistry]);
    this.#allowed = allowed && new Set([this.defaultRegistry, ...allowed.map((host) => configuredRegistry(host, 'allowed registry'))]);
  }

  /** Whether the mirror serves this (canonical) registry. */
  allows(registry: string): boolean {
    return this.#allowed === undefined || this.#allowed.has(registry);
  }

  /** The canonical registry a request is for: its `ns`, else the default. Throws INVALID_ARGUMENT for a bad `ns`. */
  registryFor(ns: string | null): string {
    return ns === null || ns === '' ? this.defaultRegistry : canonicalRegistry(ns);
  }

  /** The base URL of a registry's API. */
  endpoint(registry: string): string {
    return this.endpoints[registry] ?? `https://${registry}`;
  }

  /**
   * The registry as a metrics label: configured registries by name, every other one as
   * "other". `ns` comes from clients, and a label per value would let any client grow the
   * metrics without bound.
   */
  label(registry: string): string {
    return this.#known.has(registry) ? registry : 'other';
  }
}

function configuredRegistry(host: string, what: string): string {
  try {
    return canonicalRegistry(host);
  } catch {
    throw new ShoalError(ErrorCode.INVALID_CONFIG, `${what} ${JSON.stringify(host.slice(0, 100))} is not a registry host`);
  }
}
