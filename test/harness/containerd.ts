/**
 * containerd for the e2e tests: the daemon from bench/src/lib/containerd.ts (own root, state
 * and socket; `ctr` pulls with `--hosts-dir`), plus a client of its CRI plugin, the way the
 * kubelet pulls (daemon-side fetch, `registry.config_path`).
 *
 * Verified here (Debian 12, containerd 1.6.20, kernel with overlay): the overlayfs snapshotter
 * works, and so does reading files of an unpacked image via `ctr images mount`.
 */
import {
  type Containerd as ContainerdDaemon,
  type ContainerdOptions,
  type CtrPullOptions,
  startContainerd as startContainerdDaemon,
  waitFor,
} from '@shoal/bench/harness';
import { connectCri, type CriClient } from './cri.ts';

export type { ContainerdOptions, CtrPullOptions };

/** A running containerd with a CRI client. */
export interface Containerd extends ContainerdDaemon {
  /** A CRI client on this daemon's socket (close it when done; `stop()` closes those it made). */
  cri(): CriClient;
}

/**
 * Starts containerd (see the bench module) and waits until the CRI `Version` call answers too
 * (the CRI plugin initialises after the socket is up).
 */
export async function startContainerd(opts: ContainerdOptions = {}): Promise<Containerd> {
  const daemon = await startContainerdDaemon(opts);
  const criClients = new Set<CriClient>();
  const self: Containerd = {
    ...daemon,
    cri() {
      const c = connectCri(daemon.socket);
      criClients.add(c);
      return c;
    },
    async stop() {
      for (const c of criClients) c.close();
      criClients.clear();
      await daemon.stop();
    },
  };
  const probe = connectCri(daemon.socket);
  try {
    await waitFor(async () => (await probe.version()).runtimeName === 'containerd', {
      what: 'containerd CRI plugin to answer Version',
      proc: daemon.process,
      timeoutMs: opts.readyTimeoutMs ?? 30_000,
    });
  } catch (e) {
    await self.stop();
    throw e;
  } finally {
    probe.close();
  }
  return self;
}
