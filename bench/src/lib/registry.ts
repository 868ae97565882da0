/**
 * A real OCI registry (CNCF distribution 2.8, Debian's `docker-registry`) on 127.0.0.1, with
 * its own config and storage in a temp dir.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  freePort,
  makeTempDir,
  removeDir,
  retryOnPortClash,
  run,
  startProcess,
  waitFor,
  type ManagedProcess,
} from './managed-process.ts';

/** Username/password pair for HTTP Basic auth. */
export interface Credentials {
  username: string;
  password: string;
}

/** Options for {@link startRegistry}. */
export interface RegistryOptions {
  /**
   * Require these credentials (htpasswd, bcrypt). Unauthenticated requests get
   * `401` + `WWW-Authenticate: Basic realm=...`, which containerd and skopeo both handle.
   */
  auth?: Credentials;
  /**
   * Run as a pull-through cache of this upstream (`proxy.remoteurl`). Distribution 2.8 panics
   * at start if the upstream does not answer, so start the upstream first. The upstream must
   * not require auth: 2.8's proxy only sends credentials to Bearer-token realms, so a Basic
   * (htpasswd) upstream answers 401 and the cache reports 404 MANIFEST_UNKNOWN.
   */
  proxyRemoteUrl?: string;
  /** Milliseconds to wait for `/v2/` to answer (default 30 s). */
  readyTimeoutMs?: number;
}

/** A running registry. */
export interface Registry {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT`, the registry host part of image references. */
  host: string;
  port: number;
  /** The temp dir holding config, htpasswd and `data/` (the filesystem storage root). */
  dir: string;
  /** Storage root; blobs live under `docker/registry/v2/blobs/sha256/<2>/<hex>/data`. */
  dataDir: string;
  /** The credentials it requires, if any. */
  auth?: Credentials;
  process: ManagedProcess;
  /** Stops the registry by PID and removes its temp dir. */
  stop(): Promise<void>;
}

/** `Basic base64(user:pass)` for an `Authorization` header. */
export function basicAuthHeader(creds: Credentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
}

/** Starts a registry on a free port of 127.0.0.1; resolves once `GET /v2/` answers. */
export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  return retryOnPortClash(() => startRegistryOnce(opts));
}

async function startRegistryOnce(opts: RegistryOptions): Promise<Registry> {
  const dir = await makeTempDir('registry');
  try {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const dataDir = join(dir, 'data');

    let authBlock = '';
    if (opts.auth) {
      // distribution only accepts bcrypt entries; `htpasswd -B` makes them (-n: print, -b: password
      // from argv). Cost 5 keeps each authenticated request fast (bcrypt runs per request).
      const { stdout } = await run('htpasswd', ['-nbB', '-C', '5', opts.auth.username, opts.auth.password]);
      const htpasswdPath = join(dir, 'htpasswd');
      await writeFile(htpasswdPath, stdout.trim() + '\n');
      authBlock = `auth:\n  htpasswd:\n    realm: shoal-test\n    path: ${htpasswdPath}\n`;
    }
    let proxyBlock = '';
    if (opts.proxyRemoteUrl) proxyBlock = `proxy:\n  remoteurl: ${JSON.stringify(opts.proxyRemoteUrl)}\n`;
    // Our own config: the Debian default listens on every interface with auth on.
    const config =
      `version: 0.1\n` +
      `log:\n  level: info\n  formatter: text\n` +
      `storage:\n` +
      `  filesystem:\n    rootdirectory: ${dataDir}\n` +
      `  delete:\n    enabled: true\n` +
      `  cache:\n    blobdescriptor: inmemory\n` +
      `http:\n  addr: ${host}\n  headers:\n    X-Content-Type-Options: [nosniff]\n` +
      authBlock +
      proxyBlock;
    const configPath = join(dir, 'config.yml');
    await writeFile(configPath, config);

    const proc = await startProcess({ name: 'registry', command: 'docker-registry', args: ['serve', configPath] });
    try {
      await waitFor(
        async () => {
          const res = await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(2000) });
          await res.body?.cancel();
          return res.status === 200 || res.status === 401;
        },
        { what: `registry at ${host} to answer /v2/`, proc, timeoutMs: opts.readyTimeoutMs ?? 30_000 },
      );
    } catch (e) {
      await proc.stop();
      throw e;
    }
    return {
      url: `http://${host}`,
      host,
      port,
      dir,
      dataDir,
      ...(opts.auth ? { auth: opts.auth } : {}),
      process: proc,
      async stop() {
        await proc.stop();
        await removeDir(dir);
      },
    };
  } catch (e) {
    await removeDir(dir);
    throw e;
  }
}
