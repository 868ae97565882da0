/**
 * The BitTorrent baseline Shoal is benchmarked against: Debian's opentracker as the tracker,
 * aria2c as seeders and leechers (with rate caps), torrents made by mktorrent. Only
 * start/stop wrappers; the benchmark itself builds on them.
 *
 * opentracker gotchas handled here: it only tracks whitelisted info-hashes (`-w FILE`, a path
 * relative to its chroot `-d DIR`, re-read on SIGHUP), refuses to run as root without
 * `-u _opentracker` (so the chroot dir must be world-readable), and serves /stats only to
 * `-A` admin IPs. aria2c runs loopback-only with DHT, LPD and PEX off, so peers can only
 * meet through the tracker.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  freePort,
  makeTempDir,
  removeDir,
  retryOnPortClash,
  run,
  startProcess,
  waitFor,
  type ManagedProcess,
  type ProcessExit,
} from './managed-process.ts';

/** A running opentracker. */
export interface Tracker {
  /** `http://127.0.0.1:PORT/announce` */
  announceUrl: string;
  port: number;
  dir: string;
  process: ManagedProcess;
  /** Adds info-hashes (40 hex chars) to the whitelist and waits until the tracker accepts them. */
  whitelist(...infoHashes: string[]): Promise<void>;
  /** Scrape counts for one info-hash (zeros if the tracker knows no peers for it). */
  scrape(infoHash: string): Promise<{ complete: number; incomplete: number; downloaded: number }>;
  /** Polls scrape until at least `complete` seeders (default 1) are registered for `infoHash`. */
  waitForSeeders(infoHash: string, complete?: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** A .torrent made by {@link makeTorrent}. */
export interface Torrent {
  /** Path of the .torrent file. */
  path: string;
  /** 40 lowercase hex chars. */
  infoHash: string;
  /** Name of the payload file (what aria2 writes into its `--dir`). */
  name: string;
  size: number;
  pieceLength: number;
}

/** Options for {@link makeTorrent}. */
export interface MakeTorrentOptions {
  announceUrl: string;
  /** Where to write the .torrent (default: `<file>.torrent`). */
  out?: string;
  /** Piece length in bytes, a power of two between 32 KiB and 256 MiB (default 1 MiB). */
  pieceLength?: number;
  /** Sets the private flag (clients then never use DHT/PEX for it). */
  private?: boolean;
}

/** Options for {@link startAria2}. */
export interface Aria2Options {
  /** One torrent, or several downloaded side by side by one client (one node's image layers). */
  torrent: Torrent | Torrent[];
  /**
   * `seed`: `dir` must already hold the payload (`dir/<torrent.name>`); seeds until stopped.
   * `leech`: downloads into `dir` (default: a fresh temp dir), exits when complete (or, with
   * `keepSeeding`, seeds on until stopped).
   */
  mode: 'seed' | 'leech';
  dir?: string;
  /** aria2 rate syntax, e.g. `25M` (bytes/s). Default unlimited. */
  uploadLimit?: string;
  downloadLimit?: string;
  /** Kill the client after this many seconds (via coreutils `timeout`); default 600; 0: no limit, aria2c runs as the process itself. */
  timeoutSec?: number;
  /** The address it listens and connects from (default 127.0.0.1). */
  host?: string;
  /** Leechers: keep seeding after the download, as a Shoal agent does, until stopped. */
  keepSeeding?: boolean;
  /**
   * Leechers: append `<unix seconds> <file>` to this file when a download completes (before
   * seeding), through aria2's --on-bt-download-complete hook: when completion is wanted
   * while the client seeds on.
   */
  completionLog?: string;
  /** Runs aria2c under this command prefix, e.g. `['ip', 'netns', 'exec', 'ns1']`. */
  prefix?: string[];
  /**
   * Seeders: skip hashing the payload at start (default true: the harness made the file,
   * and hashing 512 MiB costs seconds). Set false to exercise aria2's own check.
   */
  seedUnverified?: boolean;
  extraArgs?: string[];
}

/** A running aria2c. */
export interface Aria2Peer {
  mode: 'seed' | 'leech';
  port: number;
  /** Download/seed directory; the payload is `join(dir, torrent.name)`. */
  dir: string;
  /** Path of the payload file. */
  filePath: string;
  process: ManagedProcess;
  /** Leechers: resolves when aria2c exits 0 (download complete); rejects with its log otherwise. */
  finished(): Promise<void>;
  /** Stops aria2c by PID; removes `dir` only if the harness created it. */
  stop(): Promise<void>;
}

/** Starts opentracker on 127.0.0.1 (TCP and UDP on one free port) in a chroot temp dir. */
export async function startTracker(opts: { infoHashes?: string[]; readyTimeoutMs?: number } = {}): Promise<Tracker> {
  return retryOnPortClash(() => startTrackerOnce(opts));
}

async function startTrackerOnce(opts: { infoHashes?: string[]; readyTimeoutMs?: number }): Promise<Tracker> {
  const dir = await makeTempDir('tracker');
  // opentracker drops to _opentracker after chroot(dir): it must be able to read the whitelist.
  await chmod(dir, 0o755);
  const whitelistPath = join(dir, 'whitelist.txt');
  const hashes = new Set((opts.infoHashes ?? []).map((h) => h.toLowerCase()));
  await writeFile(whitelistPath, [...hashes].map((h) => `${h}\n`).join(''), { mode: 0o644 });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;

  let proc: ManagedProcess;
  try {
    proc = await startProcess({
      name: 'opentracker',
      command: 'opentracker',
      // -w is relative to the chroot (-d); -P on the same port keeps UDP off the default 6969.
      args: ['-i', '127.0.0.1', '-p', String(port), '-P', String(port), '-d', dir, '-u', '_opentracker', '-w', 'whitelist.txt', '-A', '127.0.0.1'],
    });
  } catch (e) {
    await removeDir(dir);
    throw e;
  }

  /** An announce with event=stopped: accepted (and a no-op) only if the hash is whitelisted. */
  async function accepted(infoHash: string): Promise<boolean> {
    const q = `info_hash=${percentEncodeHex(infoHash)}&peer_id=-SH0000-probeprobe00&port=9&uploaded=0&downloaded=0&left=0&event=stopped&compact=1`;
    const res = await fetch(`${base}/announce?${q}`, { signal: AbortSignal.timeout(2000) });
    const body = await res.text();
    return res.ok && !body.includes('failure reason');
  }

  const tracker: Tracker = {
    announceUrl: `${base}/announce`,
    port,
    dir,
    process: proc,
    async whitelist(...infoHashes) {
      for (const h of infoHashes) hashes.add(h.toLowerCase());
      await writeFile(whitelistPath, [...hashes].map((h) => `${h}\n`).join(''));
      // opentracker re-reads its accesslist on SIGHUP, asynchronously.
      process.kill(proc.pid, 'SIGHUP');
      await waitFor(async () => (await Promise.all(infoHashes.map(accepted))).every(Boolean), {
        what: 'opentracker to accept the new whitelist',
        proc,
        timeoutMs: 10_000,
      });
    },
    async scrape(infoHash) {
      const res = await fetch(`${base}/scrape?info_hash=${percentEncodeHex(infoHash)}`);
      const body = Buffer.from(await res.arrayBuffer());
      const num = (key: string) => {
        const m = new RegExp(`${key}i(\\d+)e`).exec(body.toString('latin1'));
        return m ? Number(m[1]) : 0;
      };
      return { complete: num('8:complete'), incomplete: num('10:incomplete'), downloaded: num('10:downloaded') };
    },
    async waitForSeeders(infoHash, complete = 1, timeoutMs = 30_000) {
      await waitFor(async () => (await tracker.scrape(infoHash)).complete >= complete, {
        what: `${complete} seeder(s) of ${infoHash} on the tracker`,
        proc,
        timeoutMs,
      });
    },
    async stop() {
      await proc.stop();
      await removeDir(dir);
    },
  };

  try {
    await waitFor(
      async () => {
        const res = await fetch(`${base}/stats?mode=version`, { signal: AbortSignal.timeout(2000) });
        await res.body?.cancel();
        return true;
      },
      { what: `opentracker on ${base}`, proc, timeoutMs: opts.readyTimeoutMs ?? 15_000 },
    );
    if (hashes.size > 0) {
      await waitFor(async () => (await Promise.all([...hashes].map(accepted))).every(Boolean), {
        what: 'opentracker to load its whitelist',
        proc,
        timeoutMs: 10_000,
      });
    }
  } catch (e) {
    await tracker.stop();
    throw e;
  }
  return tracker;
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function percentEncodeHex(hex: string): string {
  return [...Buffer.from(hex, 'hex')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
}

/**
 * Byte range of the bencoded value starting at `pos` (just enough bencode to find the `info`
 * dictionary, whose raw bytes the info-hash is taken over).
 */
function bencodeEnd(buf: Buffer, pos: number): number {
  const c = buf[pos];
  if (c === 0x69 /* i */) return buf.indexOf(0x65 /* e */, pos) + 1;
  if (c === 0x6c /* l */ || c === 0x64 /* d */) {
    let p = pos + 1;
    while (buf[p] !== 0x65) p = bencodeEnd(buf, p);
    return p + 1;
  }
  const colon = buf.indexOf(0x3a /* : */, pos);
  if (colon < 0) throw new Error('bencode: bad string');
  return colon + 1 + Number(buf.subarray(pos, colon).toString('ascii'));
}

/** The info-hash (hex sha1 of the bencoded `info` dict) of a .torrent file's bytes. */
export function torrentInfoHash(torrent: Buffer): string {
  if (torrent[0] !== 0x64) throw new Error('torrent: not a bencoded dict');
  let p = 1;
  while (torrent[p] !== 0x65) {
    const keyEnd = bencodeEnd(torrent, p);
    const key = torrent.subarray(torrent.indexOf(0x3a, p) + 1, keyEnd).toString('latin1');
    const valueEnd = bencodeEnd(torrent, keyEnd);
    if (key === 'info') return createHash('sha1').update(torrent.subarray(keyEnd, valueEnd)).digest('hex');
    p = valueEnd;
  }
  throw new Error('torrent: no info dict');
}

/** Makes a single-file .torrent with mktorrent. */
export async function makeTorrent(file: string, opts: MakeTorrentOptions): Promise<Torrent> {
  const pieceLength = opts.pieceLength ?? 1024 * 1024;
  const exp = Math.log2(pieceLength);
  if (!Number.isInteger(exp) || exp < 15 || exp > 28) throw new Error(`makeTorrent: bad piece length ${pieceLength}`);
  const out = opts.out ?? `${file}.torrent`;
  const args = ['-a', opts.announceUrl, '-l', String(exp), '-o', out, '-t', '2'];
  if (opts.private) args.push('-p');
  // mktorrent refuses to overwrite; the harness always writes a fresh path or wants the new one.
  await rm(out, { force: true });
  await run('mktorrent', [...args, file], { timeoutMs: 600_000 });
  const bytes = await readFile(out);
  const { size } = await stat(file);
  return { path: out, infoHash: torrentInfoHash(bytes), name: basename(file), size, pieceLength };
}

/** Starts one aria2c seeder or leecher for `torrent`, on a free port of 127.0.0.1. */
export async function startAria2(opts: Aria2Options): Promise<Aria2Peer> {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await makeTempDir(`aria2-${opts.mode}`));
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const torrents = Array.isArray(opts.torrent) ? opts.torrent : [opts.torrent];
  if (torrents.length === 0) throw new Error('startAria2: no torrent');
  const args = [
    `--interface=${opts.host ?? '127.0.0.1'}`,
    '--disable-ipv6=true',
    '--enable-dht=false',
    '--enable-dht6=false',
    '--bt-enable-lpd=false',
    '--enable-peer-exchange=false',
    `--listen-port=${port}`,
    `--dir=${dir}`,
    '--file-allocation=none',
    '--allow-overwrite=true',
    '--auto-file-renaming=false',
    '--summary-interval=0',
    '--console-log-level=warn',
    '--check-certificate=false',
  ];
  if (opts.uploadLimit) args.push(`--max-overall-upload-limit=${opts.uploadLimit}`);
  if (opts.downloadLimit) args.push(`--max-overall-download-limit=${opts.downloadLimit}`);
  if (opts.mode === 'seed') {
    // seed-ratio 0.0 without seed-time: seed until stopped.
    args.push('--seed-ratio=0.0');
    if (opts.seedUnverified ?? true) args.push('--bt-seed-unverified=true');
    else args.push('--check-integrity=true');
  } else if (opts.keepSeeding) {
    args.push('--seed-ratio=0.0');
  } else {
    args.push('--seed-time=0');
  }
  if (opts.completionLog) {
    const hook = join(dir, 'on-complete.sh');
    // aria2 runs the hook with (gid, file count, first file's path).
    await writeFile(hook, `#!/bin/sh\necho "$(date +%s.%N) $3" >> ${shellQuote(opts.completionLog)}\n`, { mode: 0o755 });
    args.push(`--on-bt-download-complete=${hook}`);
  }
  args.push(...(opts.extraArgs ?? []), ...torrents.map((t) => t.path));

  const timeoutSec = opts.timeoutSec ?? 600;
  const command = timeoutSec > 0 ? ['timeout', '--kill-after=5', String(timeoutSec), 'aria2c', ...args] : ['aria2c', ...args];
  const full = [...(opts.prefix ?? []), ...command];
  let proc: ManagedProcess;
  try {
    proc = await startProcess({
      name: `aria2c-${opts.mode}`,
      command: full[0]!,
      args: full.slice(1),
    });
  } catch (e) {
    if (ownDir) await removeDir(dir);
    throw e;
  }
  return {
    mode: opts.mode,
    port,
    dir,
    filePath: join(dir, torrents[0]!.name),
    process: proc,
    async finished() {
      const exit: ProcessExit = await proc.exited;
      if (exit.code !== 0) {
        const why = exit.code === 124 ? `timed out after ${timeoutSec} s` : `exited with code ${exit.code} signal ${exit.signal}`;
        throw new Error(`aria2c ${opts.mode} ${why}\n${proc.logTail()}`);
      }
    },
    async stop() {
      await proc.stop();
      if (ownDir) await removeDir(dir);
    },
  };
}
