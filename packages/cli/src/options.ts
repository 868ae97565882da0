import { InvalidArgumentError, Option } from 'commander';

const UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  m: 1e6,
  g: 1e9,
  t: 1e12,
  ki: 2 ** 10,
  mi: 2 ** 20,
  gi: 2 ** 30,
  ti: 2 ** 40,
};

/**
 * Parses a byte count: a number with an optional unit, decimal (K, M, G, T: powers of 1000)
 * or binary (Ki, Mi, Gi, Ti: powers of 1024), with an optional B and, for rates, "/s".
 * `25MB/s` is 25,000,000; `200Gi` is 214,748,364,800; `0` means unlimited where allowed.
 */
export function parseBytes(value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?(?:\/s)?\s*$/i.exec(value);
  if (!match) throw new InvalidArgumentError(`"${value}" is not a byte count (examples: 0, 512Mi, 25MB/s, 200Gi)`);
  const unit = UNITS[(match[2] ?? '').toLowerCase()]!;
  return Math.round(Number(match[1]) * unit);
}

export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`"${value}" is not a port`);
  return port;
}

/** host:port, with the host optional (":5000" means all interfaces). */
export function parseListen(value: string): { host: string; port: number } {
  const split = value.lastIndexOf(':');
  if (split < 0) throw new InvalidArgumentError(`"${value}" is not host:port`);
  const host = value.slice(0, split).replace(/^\[|\]$/g, '') || '0.0.0.0';
  return { host, port: parsePort(value.slice(split + 1)) };
}

/** A fraction in (0, 1], e.g. a store watermark. */
export function parseFraction(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n <= 1)) throw new InvalidArgumentError(`"${value}" is not a fraction in (0, 1], e.g. 0.9`);
  return n;
}

export function parseDuration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError(`"${value}" is not a duration (examples: 500ms, 15s, 2m)`);
  const n = Number(match[1]);
  return match[2] === 'ms' ? n : match[2] === 'm' ? n * 60_000 : n * 1000;
}

/**
 * An option with its environment twin: `--store-capacity` reads SHOAL_STORE_CAPACITY when the
 * flag is absent, so every flag can be set from a Kubernetes manifest's env.
 */
export function option(flags: string, description: string): Option {
  const long = /--([a-z0-9-]+)/.exec(flags)?.[1];
  const opt = new Option(flags, description);
  if (long) opt.env(`SHOAL_${long.replaceAll('-', '_').toUpperCase()}`);
  return opt;
}

/** A comma-separated value's items, trimmed, empty ones dropped. */
export function splitList(value: unknown): string[] {
  return String(value)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Collects repeatable `registry=url` values into a map (an env twin holds them comma-separated).
 */
export function collectEndpoint(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const result = { ...previous };
  for (const entry of splitList(value)) {
    const split = entry.indexOf('=');
    if (split <= 0) throw new InvalidArgumentError(`"${entry}" is not registry=url`);
    const url = entry.slice(split + 1);
    if (!/^https?:\/\//.test(url)) throw new InvalidArgumentError(`"${url}" is not an http(s) URL`);
    result[entry.slice(0, split)] = url;
  }
  return result;
}
