import { lookup } from 'node:dns/promises';
import { ErrorCode, type Logger, ShoalError, errorMessage, silentLogger } from '@shoal/core';

/**
 * How the tracker replicas are named: a fixed base URL (`http://tracker-0.shoal:7000`), or a
 * DNS name whose addresses are the replicas (`dns+http://shoal-tracker-headless:7000`: a
 * Kubernetes headless Service resolves to one address per ready pod).
 */
export type TrackerSpec = { kind: 'url'; url: string } | { kind: 'dns'; scheme: 'http' | 'https'; host: string; port: number; path: string };

/** Resolves a host name to its addresses (IPv4 and IPv6, as text). */
export type ResolveAddresses = (host: string) => Promise<string[]>;

export interface TrackerReplicasOptions {
  /** Specs as on the command line: URLs and `dns+http(s)://name:port` names. */
  specs: readonly string[];
  /** How often DNS names are resolved again (default 15 s). */
  refreshMs?: number;
  /** Name resolution (default: the system resolver, `getaddrinfo`, so /etc/hosts and search domains apply). */
  resolve?: ResolveAddresses;
  logger?: Logger;
}

const DEFAULT_REFRESH_MS = 15_000;

/**
 * Parses one tracker spec. Throws INVALID_CONFIG with an example for anything else, so a typo
 * fails at start-up rather than as a tracker that never answers.
 */
export function parseTrackerSpec(spec: string): TrackerSpec {
  const value = spec.trim();
  const dns = /^dns\+(https?):\/\/([^/:?#]+):(\d{1,5})(\/[^?#]*)?$/i.exec(value);
  if (dns) {
    const port = Number(dns[3]);
    if (port < 1 || port > 65535) throw new ShoalError(ErrorCode.INVALID_CONFIG, `tracker ${JSON.stringify(value)}: invalid port`);
    return { kind: 'dns', scheme: dns[1]!.toLowerCase() as 'http' | 'https', host: dns[2]!, port, path: (dns[4] ?? '').replace(/\/+$/, '') };
  }
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.username) {
    throw new ShoalError(
      ErrorCode.INVALID_CONFIG,
      `tracker ${JSON.stringify(value.slice(0, 100))} is neither a base URL (http://tracker:7000) nor a DNS name of the replicas (dns+http://shoal-tracker-headless:7000)`,
    );
  }
  return { kind: 'url', url: value.replace(/\/+$/, '') };
}

/** The base URL of a replica at `address` (IPv6 in brackets). */
function replicaUrl(spec: Extract<TrackerSpec, { kind: 'dns' }>, address: string): string {
  const host = address.includes(':') ? `[${address}]` : address;
  return `${spec.scheme}://${host}:${spec.port}${spec.path}`;
}

async function systemResolve(host: string): Promise<string[]> {
  const entries = await lookup(host, { all: true });
  return entries.map((e) => e.address);
}

/**
 * The current list of tracker replicas: fixed URLs as given, DNS names resolved now and then
 * to one URL per address (sorted, so every node ranks replicas from the same strings). A
 * failed or empty resolution keeps the last good answer: a DNS hiccup, or every tracker pod
 * restarting at once, must not leave agents with no tracker to try (they fail over, and fall
 * back to the origin, on their own).
 *
 * Owns its refresh timer: `start()` resolves once and schedules the rest, `stop()` ends it.
 */
export class TrackerReplicas {
  readonly specs: readonly TrackerSpec[];
  readonly #refreshMs: number;
  readonly #resolve: ResolveAddresses;
  readonly #log: Logger;
  readonly #resolved = new Map<string, string[]>();
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;

  constructor(options: TrackerReplicasOptions) {
    this.specs = options.specs.map(parseTrackerSpec);
    this.#refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS;
    this.#resolve = options.resolve ?? systemResolve;
    this.#log = options.logger ?? silentLogger();
  }

  /** True when some replica is named by DNS (there is something to refresh). */
  get dynamic(): boolean {
    return this.specs.some((s) => s.kind === 'dns');
  }

  /** Replica base URLs as known now. */
  list(): string[] {
    const urls = new Set<string>();
    for (const spec of this.specs) {
      if (spec.kind === 'url') urls.add(spec.url);
      else for (const address of this.#resolved.get(spec.host) ?? []) urls.add(replicaUrl(spec, address));
    }
    return [...urls];
  }

  async start(): Promise<void> {
    if (!this.dynamic) return;
    await this.refresh();
    this.#timer = setInterval(() => void this.refresh(), this.#refreshMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Resolves every DNS name again (one refresh at a time). */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#refreshAll().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #refreshAll(): Promise<void> {
    const hosts = new Set(this.specs.flatMap((s) => (s.kind === 'dns' ? [s.host] : [])));
    await Promise.all(
      [...hosts].map(async (host) => {
        let addresses: string[];
        try {
          addresses = [...new Set(await this.#resolve(host))].sort();
        } catch (err) {
          this.#log.warn({ host, err: errorMessage(err) }, 'cannot resolve the tracker replicas; keeping the last answer');
          return;
        }
        if (addresses.length === 0) {
          this.#log.warn({ host }, 'the tracker replicas resolved to no address; keeping the last answer');
          return;
        }
        const before = this.#resolved.get(host);
        if (before?.join(',') !== addresses.join(',')) this.#log.info({ host, replicas: addresses }, 'tracker replicas changed');
        this.#resolved.set(host, addresses);
      }),
    );
  }
}
