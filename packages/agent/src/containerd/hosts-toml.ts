/**
 * Rendering and strict parsing of containerd `hosts.toml` files (pure, no I/O).
 *
 * What containerd does with the file (read in containerd's `remotes/docker/config/hosts.go`,
 * `config_unix.go` and `docs/hosts.md`, the 1.6/1.7 code that CRI's `config_path` uses):
 * - For an image on registry R it reads the first directory that exists of
 *   `<config_path>/<host>_<port>_` (only when R has a port), `<config_path>/R`, then
 *   `<config_path>/_default`. Only one is used: a user's `docker.io/` directory shadows
 *   `_default` for docker.io images.
 * - The `[host."..."]` tables are tried in file order, then `server` last.
 * - When `server` is absent, the last entry is filled in from the registry named in the image
 *   reference (`docker.io` -> `https://registry-1.docker.io`, anything else `https://R`).
 *   That is why `_default` must not set `server`: one file serves every registry, and the
 *   fallback has to be each image's own registry. Setting `server` in `_default` would send
 *   every registry's pulls to that one server (the docs' "only use the mirror" recipe).
 * - A host that differs from the image's registry is a mirror: containerd appends `?ns=R` to
 *   every request to it, so the agent learns the real registry from the query string.
 * - A host URL with no path gets `/v2` appended; the agent serves `/v2/` at its root, so
 *   `override_path` is not needed. The mirror is plain `http://` on loopback, so neither
 *   `skip_verify` nor `ca` applies to it. Capabilities `pull` + `resolve` (never `push`):
 *   a node-local mirror is the docs' "private mirror" row.
 * - `hosts.toml` takes precedence over Docker-style `*.crt`/`*.cert` files in the same
 *   directory: once it exists, those are ignored (configure.ts notes it in its report).
 * - The directory is re-read on every pull: no containerd restart once `config_path` is set.
 * - `_default` arrived with containerd PR #7607 (1.7) and its 1.6 backport #8065; a containerd
 *   older than that backport ignores `_default`, and there only per-registry directories work
 *   (`--registry docker.io --registry ghcr.io ...`), as they have since 1.5.
 * - 1.6/1.7 reject a file with no `[host]` table ("invalid `host` tree", containerd #10027);
 *   ours always has one.
 *
 * No TOML library: containerd's files for Shoal are five lines we render ourselves, and the
 * only question we ask of someone else's file is "is this ours?", which the marker line on
 * the first line answers. A full parser would add a dependency for no decision we make.
 * `parseHostsToml` reads back exactly the subset `renderHostsToml` writes, and returns
 * `undefined` for anything else.
 */
import { ErrorCode, ShoalError } from '@shoal/core';

/** First line of every file Shoal writes; how we tell our files from the user's. */
export const SHOAL_MARKER = '# managed by shoal agent configure-containerd';

/** containerd's fallback namespace, used for registries that have no directory of their own. */
export const DEFAULT_NAMESPACE = '_default';

/** The capabilities Shoal gives its mirror: it may resolve tags and pull, never push. */
export const MIRROR_CAPABILITIES: readonly HostCapability[] = ['pull', 'resolve'];

export type HostCapability = 'pull' | 'resolve' | 'push';

export interface HostsTomlHost {
  /** `scheme://host[:port][/path]` */
  url: string;
  capabilities: readonly HostCapability[];
}

/** The subset of hosts.toml that Shoal writes. */
export interface HostsToml {
  /** Whether the first line is {@link SHOAL_MARKER}. */
  managed: boolean;
  /** The upstream tried after every host; absent for `_default`. */
  server?: string;
  hosts: readonly HostsTomlHost[];
}

/** Upstreams that are not `https://<registry>`. */
export const DEFAULT_UPSTREAMS: Readonly<Record<string, string>> = Object.freeze({
  // containerd itself maps docker.io to this host; docker.io serves no /v2/ API.
  'docker.io': 'https://registry-1.docker.io',
});

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOSTNAME_RE = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
const IPV6_RE = /^\[[0-9A-Fa-f:.]+\]$/;

/**
 * Checks a registry namespace: `_default`, or `host[:port]` where host is a DNS name, an IPv4
 * address or a bracketed IPv6 address. It becomes a directory name under certs.d, so anything
 * with a path separator, `..`, whitespace or control characters is refused.
 */
export function validateRegistryName(name: string): string {
  const reject = (why: string): never => {
    throw new ShoalError(
      ErrorCode.INVALID_ARGUMENT,
      `invalid registry ${JSON.stringify(name)}: ${why}; expected a host[:port] such as docker.io or registry.local:5000, or ${DEFAULT_NAMESPACE}`,
    );
  };
  if (typeof name !== 'string' || name.length === 0) return reject('empty');
  if (name === DEFAULT_NAMESPACE) return name;
  if (name.length > 260) reject('too long');
  if (/[/\\]/.test(name)) reject('contains a path separator');
  if (name.includes('..')) reject('contains ".."');
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(name)) reject('contains whitespace or control characters');
  let host = name;
  const withPort = /^(.+):(\d{1,5})$/.exec(name);
  if (withPort && (HOSTNAME_RE.test(withPort[1]!) || IPV6_RE.test(withPort[1]!))) {
    host = withPort[1]!;
    const port = Number(withPort[2]);
    if (port < 1 || port > 65535) reject('port out of range');
  }
  if (!HOSTNAME_RE.test(host) && !IPV6_RE.test(host)) reject('not a host name');
  return name;
}

function fail(code: ErrorCode, message: string): never {
  throw new ShoalError(code, message);
}

/**
 * Normalises the mirror URL to `scheme://host:port` (no path: containerd adds `/v2` itself
 * and the agent serves `/v2/` at its root).
 */
export function normalizeMirrorUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail(ErrorCode.INVALID_ARGUMENT, `invalid mirror URL ${JSON.stringify(raw)}: expected e.g. http://127.0.0.1:5000`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    fail(ErrorCode.INVALID_ARGUMENT, `invalid mirror URL ${JSON.stringify(raw)}: scheme must be http or https`);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    fail(ErrorCode.INVALID_ARGUMENT, `invalid mirror URL ${JSON.stringify(raw)}: give only scheme://host:port (containerd adds /v2/)`);
  }
  return url.origin;
}

/** Validates an upstream server URL (a path is allowed; containerd appends /v2 unless present). */
export function normalizeUpstreamUrl(registry: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail(ErrorCode.INVALID_CONFIG, `invalid upstream URL ${JSON.stringify(raw)} for ${registry}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    fail(ErrorCode.INVALID_CONFIG, `invalid upstream URL ${JSON.stringify(raw)} for ${registry}: scheme must be http or https`);
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    fail(ErrorCode.INVALID_CONFIG, `invalid upstream URL ${JSON.stringify(raw)} for ${registry}: no query, fragment or credentials`);
  }
  const path = url.pathname.replace(/\/+$/, '');
  return url.origin + path;
}

/**
 * The real registry containerd falls back to after the mirror: `upstreams[registry]`, then
 * {@link DEFAULT_UPSTREAMS}, then `https://<registry>`. `undefined` for `_default`.
 */
export function upstreamFor(registry: string, upstreams: Readonly<Record<string, string>> = {}): string | undefined {
  if (registry === DEFAULT_NAMESPACE) {
    if (Object.hasOwn(upstreams, DEFAULT_NAMESPACE)) {
      fail(
        ErrorCode.INVALID_CONFIG,
        `no upstream may be set for ${DEFAULT_NAMESPACE}: containerd would send every registry's pulls to it; ` +
          'without one it falls back to each image\'s own registry',
      );
    }
    return undefined;
  }
  const configured = Object.hasOwn(upstreams, registry) ? upstreams[registry] : undefined;
  const raw = configured ?? DEFAULT_UPSTREAMS[registry] ?? `https://${registry}`;
  return normalizeUpstreamUrl(registry, raw);
}

/** A TOML basic string. */
function tomlString(value: string): string {
  let out = '"';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** Reads a TOML basic string at the start of `text`; returns its value and the rest. */
function readTomlString(text: string): [string, string] | undefined {
  if (!text.startsWith('"')) return undefined;
  let out = '';
  for (let i = 1; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"') return [out, text.slice(i + 1)];
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const esc = text[++i];
    const simple: Record<string, string> = { '"': '"', '\\': '\\', n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' };
    if (esc !== undefined && esc in simple) out += simple[esc];
    else if (esc === 'u' && /^[0-9A-Fa-f]{4}$/.test(text.slice(i + 1, i + 5))) {
      out += String.fromCodePoint(parseInt(text.slice(i + 1, i + 5), 16));
      i += 4;
    } else return undefined;
  }
  return undefined;
}

/** Renders a hosts.toml with the Shoal marker. */
export function renderHostsToml(spec: { server?: string | undefined; hosts: readonly HostsTomlHost[] }): string {
  const lines = [
    SHOAL_MARKER,
    '# Edits are overwritten; `shoal agent configure-containerd --undo` removes this file and',
    '# restores the one it replaced (hosts.toml.shoal-backup).',
  ];
  if (spec.server === undefined) {
    lines.push('# No `server`: after the hosts below, containerd pulls from the registry named in the image.');
  } else {
    lines.push(`server = ${tomlString(spec.server)}`);
  }
  for (const host of spec.hosts) {
    lines.push('', `[host.${tomlString(host.url)}]`, `  capabilities = [${host.capabilities.map(tomlString).join(', ')}]`);
  }
  return `${lines.join('\n')}\n`;
}

/** The hosts.toml Shoal writes for one registry namespace. */
export function hostsTomlFor(registry: string, mirrorUrl: string, upstreams?: Readonly<Record<string, string>>): string {
  validateRegistryName(registry);
  return renderHostsToml({
    server: upstreamFor(registry, upstreams),
    hosts: [{ url: normalizeMirrorUrl(mirrorUrl), capabilities: MIRROR_CAPABILITIES }],
  });
}

/** Whether a hosts.toml was written by Shoal: its first line is exactly the marker. */
export function isShoalManaged(content: string): boolean {
  const firstLine = content.split('\n', 1)[0]!.replace(/\r$/, '');
  return firstLine === SHOAL_MARKER;
}

/**
 * Parses the subset of TOML that {@link renderHostsToml} writes: comments, `server = "..."`,
 * `[host."..."]` tables with `capabilities = [...]`. Anything else (other keys, other tables,
 * malformed lines) gives `undefined`: this is a reader for our own files, not a TOML parser.
 */
export function parseHostsToml(content: string): HostsToml | undefined {
  let server: string | undefined;
  const hosts: { url: string; capabilities: HostCapability[] | undefined }[] = [];
  for (const rawLine of content.split('\n')) {
    const line = rawLine.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('[')) {
      const m = /^\[\s*host\s*\.\s*(".*)$/.exec(line);
      const parsed = m ? readTomlString(m[1]!) : undefined;
      if (!parsed || !/^\s*\](\s*#.*)?$/.test(parsed[1])) return undefined;
      if (hosts.some((h) => h.url === parsed[0])) return undefined;
      hosts.push({ url: parsed[0], capabilities: undefined });
      continue;
    }
    const kv = /^([A-Za-z_]+)\s*=\s*(.*)$/.exec(line);
    if (!kv) return undefined;
    const key = kv[1]!;
    const rest = kv[2]!;
    const current = hosts.at(-1);
    if (key === 'server' && current === undefined && server === undefined) {
      const parsed = readTomlString(rest);
      if (!parsed || !/^\s*(#.*)?$/.test(parsed[1])) return undefined;
      server = parsed[0];
    } else if (key === 'capabilities' && current !== undefined && current.capabilities === undefined) {
      const caps = parseStringArray(rest);
      if (!caps || !caps.every((c): c is HostCapability => c === 'pull' || c === 'resolve' || c === 'push')) return undefined;
      current.capabilities = caps;
    } else {
      return undefined;
    }
  }
  const result: HostsToml = {
    managed: isShoalManaged(content),
    hosts: hosts.map((h) => ({ url: h.url, capabilities: h.capabilities ?? ['pull', 'resolve', 'push'] })),
  };
  if (server !== undefined) result.server = server;
  return result;
}

function parseStringArray(text: string): string[] | undefined {
  let rest = text.trim();
  if (!rest.startsWith('[')) return undefined;
  rest = rest.slice(1).trimStart();
  const out: string[] = [];
  while (!rest.startsWith(']')) {
    const parsed = readTomlString(rest);
    if (!parsed) return undefined;
    out.push(parsed[0]);
    rest = parsed[1].trimStart();
    if (rest.startsWith(',')) rest = rest.slice(1).trimStart();
    else if (!rest.startsWith(']')) return undefined;
  }
  return /^\]\s*(#.*)?$/.test(rest) ? out : undefined;
}
