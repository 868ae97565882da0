import { readFileSync, statSync } from 'node:fs';
import { ErrorCode, ShoalError } from '@shoal/core';
import { canonicalRegistry } from './names.ts';

/** A username and password for one registry (Basic auth, or the token service's Basic auth). */
export interface RegistryCredential {
  username: string;
  password: string;
}

/** Credentials by canonical registry name. */
export type RegistryCredentials = ReadonlyMap<string, RegistryCredential>;

/** Looks up the credential for a registry (canonical name); undefined for anonymous access. */
export type RegistryCredentialsProvider = (registry: string) => RegistryCredential | undefined;

/**
 * Parses a registry credentials file. Two shapes are accepted, alone or together:
 *
 * ```json
 * {
 *   "registries": {
 *     "registry.example.com": { "username": "puller", "password": "s3cret" },
 *     "ghcr.io": { "auth": "<base64 of username:password>" },
 *     "docker.io": { "username": "me", "password": "dckr_pat_..." }
 *   }
 * }
 * ```
 *
 * and Docker's `config.json` / Kubernetes' `kubernetes.io/dockerconfigjson` Secret format,
 * `{ "auths": { "https://index.docker.io/v1/": { "auth": "..." }, "host:5000": { "username": "...", "password": "..." } } }`,
 * so that an existing imagePullSecret can be mounted as the file unchanged. Keys are registry
 * names (`host[:port]`; a scheme or path, as in Docker's Hub key, is ignored; Docker Hub's
 * aliases mean `docker.io`). Entries under `registries` win over `auths`.
 *
 * Errors name the registry and the problem, never a value.
 */
export function parseRegistryCredentials(json: unknown, what = 'registry credentials'): RegistryCredentials {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ShoalError(ErrorCode.INVALID_CONFIG, `${what}: expected a JSON object with "registries" or "auths"`);
  }
  const doc = json as Record<string, unknown>;
  if (doc.registries === undefined && doc.auths === undefined) {
    throw new ShoalError(ErrorCode.INVALID_CONFIG, `${what}: expected a "registries" or "auths" object`);
  }
  const result = new Map<string, RegistryCredential>();
  // auths first, so that registries overrides it.
  for (const section of ['auths', 'registries'] as const) {
    const entries = doc[section];
    if (entries === undefined) continue;
    if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) {
      throw new ShoalError(ErrorCode.INVALID_CONFIG, `${what}: "${section}" must be an object`);
    }
    for (const [key, entry] of Object.entries(entries as Record<string, unknown>)) {
      let registry: string;
      try {
        registry = canonicalRegistry(key);
      } catch {
        throw new ShoalError(ErrorCode.INVALID_CONFIG, `${what}: "${section}" has an invalid registry name ${JSON.stringify(key.slice(0, 100))}`);
      }
      result.set(registry, parseEntry(entry, `${what}: ${section}["${key}"]`));
    }
  }
  return result;
}

function parseEntry(entry: unknown, where: string): RegistryCredential {
  if (typeof entry !== 'object' || entry === null) throw new ShoalError(ErrorCode.INVALID_CONFIG, `${where} must be an object`);
  const e = entry as Record<string, unknown>;
  if (typeof e.username === 'string' && typeof e.password === 'string' && e.username !== '') {
    return { username: e.username, password: e.password };
  }
  if (typeof e.auth === 'string' && e.auth !== '') {
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    throw new ShoalError(ErrorCode.INVALID_CONFIG, `${where}.auth is not base64 of "username:password"`);
  }
  throw new ShoalError(ErrorCode.INVALID_CONFIG, `${where} needs "username" and "password", or "auth"`);
}

/** Reads and parses a credentials file (see {@link parseRegistryCredentials}). */
export function loadRegistryCredentials(path: string): RegistryCredentials {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ShoalError(ErrorCode.INVALID_CONFIG, `cannot read registry credentials file ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`, {
      cause: err,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // The parser's message may quote the file's content: do not pass it on.
    throw new ShoalError(ErrorCode.INVALID_CONFIG, `registry credentials file ${path} is not valid JSON`);
  }
  return parseRegistryCredentials(json, `registry credentials file ${path}`);
}

/** Options of {@link fileCredentialsProvider}. */
export interface FileCredentialsOptions {
  /** How often, at most, the file's modification time is checked (default 10 s). */
  checkIntervalMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/**
 * Credentials from a file that may change while the process runs: a Kubernetes Secret
 * mounted as a volume is updated in place (the kubelet swaps a symlink) when the Secret
 * changes. The file is read at once (a broken file fails start-up, INVALID_CONFIG), then
 * re-read when its mtime changes; a broken update keeps the last good credentials.
 */
export function fileCredentialsProvider(path: string, options: FileCredentialsOptions = {}): RegistryCredentialsProvider {
  const interval = options.checkIntervalMs ?? 10_000;
  const now = options.now ?? Date.now;
  let credentials = loadRegistryCredentials(path);
  let mtime = statSync(path).mtimeMs;
  let checkedAt = now();
  return (registry) => {
    if (now() - checkedAt >= interval) {
      checkedAt = now();
      try {
        const current = statSync(path).mtimeMs;
        if (current !== mtime) {
          credentials = loadRegistryCredentials(path);
          mtime = current;
        }
      } catch {
        // Keep the last good credentials: a half-written update must not log everyone out.
      }
    }
    return credentials.get(canonicalRegistry(registry));
  };
}

/** A provider over fixed credentials. */
export function staticCredentialsProvider(credentials: RegistryCredentials): RegistryCredentialsProvider {
  return (registry) => credentials.get(canonicalRegistry(registry));
}

/** `Basic base64(username:password)`. */
export function basicAuthorization(credential: RegistryCredential): string {
  return `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}`;
}
