/**
 * A real containerd 1.6 daemon with its own config, root, state and socket under a temp dir,
 * and `ctr` to pull through it (client-side fetch, `--hosts-dir`). The CRI plugin is
 * configured too (`registry.config_path`); the e2e harness adds a CRI client on top
 * (test/harness/containerd.ts).
 *
 * Verified here (Debian 12, containerd 1.6.20, kernel with overlay): the overlayfs snapshotter
 * works, and so does reading files of an unpacked image via `ctr images mount`.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  makeTempDir,
  removeDir,
  run,
  runAllowFail,
  startProcess,
  waitFor,
  type ManagedProcess,
  type RunResult,
} from './managed-process.ts';
import type { Credentials } from './registry.ts';

/** Options for {@link startContainerd}. */
export interface ContainerdOptions {
  /** Default `--hosts-dir` for {@link Containerd.pull} (ctr reads `<dir>/<registry>/hosts.toml`). */
  hostsDir?: string;
  /**
   * The CRI plugin's `registry.config_path`. Default: `hostsDir` if given, else an empty
   * `certs.d` in the temp dir (see {@link Containerd.criConfigPath}); containerd re-reads it
   * on every pull, so hosts.toml files can be written after start.
   */
  criConfigPath?: string;
  /** Default `overlayfs` (works here); `native` copies every layer, slower but needs no mounts. */
  snapshotter?: 'overlayfs' | 'native';
  /** Namespace for `ctr` commands (default `shoal-test`). The CRI always uses `k8s.io`. */
  namespace?: string;
  /** containerd log level (default `info`). */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  readyTimeoutMs?: number;
}

/** Options for {@link Containerd.pull}. */
export interface CtrPullOptions {
  /** Overrides the default hosts dir; `null` pulls without one. */
  hostsDir?: string | null;
  /**
   * `--plain-http`. Not needed for 127.0.0.1/localhost (containerd 1.6 defaults those to
   * http) nor when hosts.toml names `http://` hosts; needed for plain-HTTP registries on
   * other names without a hosts.toml.
   */
  plainHttp?: boolean;
  /** `--user user:password` */
  user?: Credentials;
  /** e.g. `linux/arm64`; default: this machine's platform. */
  platform?: string;
  allPlatforms?: boolean;
  /** Default: the instance's namespace. */
  namespace?: string;
  timeoutMs?: number;
}

/** A running containerd. */
export interface Containerd {
  /** gRPC unix socket (CRI is served here too). */
  socket: string;
  /** Namespace used by `ctr` helpers. */
  namespace: string;
  /** Namespace the CRI plugin stores images in. */
  criNamespace: 'k8s.io';
  /** The CRI plugin's `registry.config_path`. */
  criConfigPath: string;
  snapshotter: 'overlayfs' | 'native';
  dir: string;
  process: ManagedProcess;
  /** Runs `ctr -a SOCKET -n NAMESPACE ...args`; throws on a non-zero exit. */
  ctr(args: readonly string[], opts?: { namespace?: string; timeoutMs?: number }): Promise<RunResult>;
  /** `ctr images pull` (fetch + unpack). Throws with ctr's stderr on failure. */
  pull(ref: string, opts?: CtrPullOptions): Promise<void>;
  /**
   * Reads a file from the image's unpacked rootfs (`ctr images mount`, then unmount). Works
   * for images pulled by `pull()` (default namespace) and by the CRI (pass `namespace: 'k8s.io'`).
   */
  readFileFromImage(ref: string, path: string, opts?: { namespace?: string }): Promise<Buffer>;
  /** Image refs in a namespace (`ctr images ls -q`). */
  listImages(opts?: { namespace?: string }): Promise<string[]>;
  /** Removes an image and synchronously garbage-collects its content, so the next pull fetches again. */
  removeImage(ref: string, opts?: { namespace?: string }): Promise<void>;
  /** Stops containerd by PID, unmounts anything left under its dir, removes the dir. */
  stop(): Promise<void>;
}

/** Mount points under `dir`, deepest first (from /proc/self/mountinfo; field 5 is the mount point). */
async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p)
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
  return points.sort((a, b) => b.length - a.length);
}

function configToml(o: {
  dir: string;
  socket: string;
  snapshotter: string;
  criConfigPath: string;
  logLevel: string;
}): string {
  const q = (s: string) => JSON.stringify(s);
  // Everything containerd would otherwise put in /var/lib, /run or /opt goes under `dir`, so
  // several instances (several "nodes") can run side by side and cleanup is one rm -rf.
  return `version = 2
root = ${q(join(o.dir, 'root'))}
state = ${q(join(o.dir, 'state'))}
# Snapshotters that cannot work here only add log noise.
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = ${q(o.socket)}

[ttrpc]
  address = ${q(`${o.socket}.ttrpc`)}

[debug]
  level = ${q(o.logLevel)}

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(join(o.dir, 'opt'))}

[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = ${q(o.snapshotter)}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${q(join(o.dir, 'cni', 'bin'))}
    conf_dir = ${q(join(o.dir, 'cni', 'conf'))}
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = ${q(o.criConfigPath)}
`;
}

/** Starts containerd with its own config under a temp dir and waits until `ctr version` answers. */
export async function startContainerd(opts: ContainerdOptions = {}): Promise<Containerd> {
  const dir = await makeTempDir('containerd');
  // unix socket paths are limited to 108 bytes; mkdtemp under /tmp stays far below.
  const socket = join(dir, 'containerd.sock');
  const snapshotter = opts.snapshotter ?? 'overlayfs';
  const namespace = opts.namespace ?? 'shoal-test';
  const criConfigPath = opts.criConfigPath ?? opts.hostsDir ?? join(dir, 'certs.d');
  await mkdir(criConfigPath, { recursive: true });
  await mkdir(join(dir, 'mnt'), { recursive: true });
  const configPath = join(dir, 'config.toml');
  await writeFile(configPath, configToml({ dir, socket, snapshotter, criConfigPath, logLevel: opts.logLevel ?? 'info' }));

  let proc: ManagedProcess;
  try {
    proc = await startProcess({ name: 'containerd', command: 'containerd', args: ['--config', configPath] });
  } catch (e) {
    await removeDir(dir);
    throw e;
  }

  const ctr = (args: readonly string[], o: { namespace?: string; timeoutMs?: number } = {}) =>
    run('ctr', ['-a', socket, '-n', o.namespace ?? namespace, ...args], { timeoutMs: o.timeoutMs ?? 300_000 });

  let mountSeq = 0;
  const self: Containerd = {
    socket,
    namespace,
    criNamespace: 'k8s.io',
    criConfigPath,
    snapshotter,
    dir,
    process: proc,
    ctr,
    async pull(ref, o = {}) {
      const args = ['images', 'pull'];
      const hostsDir = o.hostsDir === undefined ? opts.hostsDir : o.hostsDir;
      if (hostsDir) args.push('--hosts-dir', hostsDir);
      if (o.plainHttp) args.push('--plain-http');
      if (o.user) args.push('--user', `${o.user.username}:${o.user.password}`);
      if (o.platform) args.push('--platform', o.platform);
      if (o.allPlatforms) args.push('--all-platforms');
      args.push(ref);
      await ctr(args, { namespace: o.namespace ?? namespace, timeoutMs: o.timeoutMs ?? 300_000 });
    },
    async readFileFromImage(ref, path, o = {}) {
      const target = join(dir, 'mnt', `m${++mountSeq}`);
      await mkdir(target, { recursive: true });
      const ns = { namespace: o.namespace ?? namespace };
      // `images mount` creates a view snapshot of the unpacked image and mounts it (overlay or
      // bind, by snapshotter); `unmount --rm` unmounts and drops the snapshot and its lease.
      await ctr(['images', 'mount', ref, target], ns);
      try {
        return await readFile(join(target, path));
      } finally {
        await ctr(['images', 'unmount', '--rm', target], ns);
      }
    },
    async listImages(o = {}) {
      const { stdout } = await ctr(['images', 'ls', '-q'], { namespace: o.namespace ?? namespace });
      return stdout.split('\n').filter(Boolean);
    },
    async removeImage(ref, o = {}) {
      // --sync waits for the garbage collector, so blobs and snapshots are really gone.
      await ctr(['images', 'rm', '--sync', ref], { namespace: o.namespace ?? namespace });
    },
    async stop() {
      await proc.stop(10_000);
      // A test that failed between mount and unmount leaves a mount behind; rm would fail
      // (EBUSY) or worse, recurse into it. Lazy-unmount everything under our dir first.
      for (const m of await mountsUnder(dir)) await runAllowFail('umount', ['-l', m]);
      await removeDir(dir);
    },
  };

  try {
    await waitFor(async () => (await runAllowFail('ctr', ['-a', socket, 'version'], { timeoutMs: 5000 })).code === 0, {
      what: `containerd socket ${socket}`,
      proc,
      timeoutMs: opts.readyTimeoutMs ?? 30_000,
    });
  } catch (e) {
    await self.stop();
    throw e;
  }
  return self;
}
