/**
 * containerd registry host configuration (`<config_path>/<registry>/hosts.toml`), the file that
 * points a node's pulls at a mirror such as Shoal's agent. Read by `ctr --hosts-dir` (client
 * side) and by the CRI plugin's `registry.config_path` (daemon side, re-read on every pull).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One `[host."URL"]` entry, tried in order before `server`. */
export interface HostsTomlMirror {
  /** e.g. `http://127.0.0.1:5000` (the scheme decides plain HTTP vs TLS). */
  url: string;
  /** Default `["pull", "resolve"]`. */
  capabilities?: Array<'pull' | 'resolve' | 'push'>;
  skipVerify?: boolean;
  /** Extra request headers containerd sends to this host. */
  header?: Record<string, string>;
  /**
   * Send requests to `url` + path as-is instead of `url/v2/...` (containerd's
   * `override_path`); for mirrors that serve the API under a prefix.
   */
  overridePath?: boolean;
}

/** Contents of one hosts.toml. */
export interface HostsTomlSpec {
  /**
   * The upstream registry, tried after every mirror, e.g. `http://127.0.0.1:5000`. Omit it and
   * containerd uses the registry's own name (`https://` except for localhost/127.0.0.1, where
   * containerd 1.6 defaults to `http://`).
   */
  server?: string;
  mirrors?: HostsTomlMirror[];
}

/**
 * Renders a hosts.toml. With only a `server`, the server is also listed as a `[host]` entry,
 * because containerd 1.6 cannot parse a hosts.toml that has no `[host]` table.
 */
export function renderHostsToml(spec: HostsTomlSpec): string {
  const q = (s: string) => JSON.stringify(s); // TOML basic strings accept JSON string escapes
  const lines: string[] = [];
  if (spec.server) lines.push(`server = ${q(spec.server)}`, '');
  let mirrors = spec.mirrors ?? [];
  if (mirrors.length === 0 && spec.server) {
    // containerd 1.6 rejects a hosts.toml without any [host] table ("failed to decode
    // hosts.toml: invalid `host` tree") and silently falls back to https://<registry>. Listing
    // the server as its own host keeps the file valid; it is then tried as host, then as server.
    mirrors = [{ url: spec.server }];
  }
  for (const m of mirrors) {
    lines.push(`[host.${q(m.url)}]`);
    lines.push(`  capabilities = [${(m.capabilities ?? ['pull', 'resolve']).map(q).join(', ')}]`);
    if (m.skipVerify !== undefined) lines.push(`  skip_verify = ${m.skipVerify}`);
    if (m.overridePath) lines.push('  override_path = true');
    if (m.header && Object.keys(m.header).length > 0) {
      lines.push(`  [host.${q(m.url)}.header]`);
      for (const [k, v] of Object.entries(m.header)) lines.push(`    ${q(k)} = ${q(v)}`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

/**
 * Writes `<configDir>/<registryHost>/hosts.toml` (creating dirs). `registryHost` is the
 * registry part of image refs (`127.0.0.1:5000`, `docker.io`) or `_default` for every registry
 * without its own entry. Returns the file's path.
 */
export async function writeHostsToml(configDir: string, registryHost: string, spec: HostsTomlSpec): Promise<string> {
  const dir = join(configDir, registryHost);
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'hosts.toml');
  await writeFile(path, renderHostsToml(spec));
  return path;
}
