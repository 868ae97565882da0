/// <reference path="./types/bencode.d.ts" />
import bencode from 'bencode';
import { request } from 'undici';
import {
  type BlobSource,
  type Digest,
  ErrorCode,
  Metainfo,
  ShoalError,
  encodeSource,
  errorMessage,
  rankReplicas,
} from '@shoal/core';

export interface AnnounceParams {
  meta: Metainfo;
  peerId: Buffer;
  port: number;
  uploaded: number;
  downloaded: number;
  left: number;
  event?: 'started' | 'completed' | 'stopped';
  numwant?: number;
}

export interface AnnounceResult {
  /** Seconds until the tracker wants the next announce. */
  interval: number;
  /** Peers as host:port, in the tracker's order of preference. */
  peers: string[];
  complete: number;
  incomplete: number;
  /** The replica that answered (base URL). */
  replica: string;
}

/** Where a blob's warm-up stands at the replica that answered (the `X-Shoal-Seed-State` header). */
export type SeedState = 'warming' | 'seeding' | 'failed';

/** A metainfo answer with the replica's warm-up state, for preheat progress. */
export interface SeedStatus {
  meta: Metainfo;
  state: SeedState | undefined;
  replica: string;
}

export interface TrackerClientOptions {
  /** How long a replica that failed is tried after the others (default 10 s). */
  downMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export interface MetainfoQuery {
  source?: BlobSource;
  /** Answer only once more than this many piece hashes are known (long poll). */
  knownAbove?: number;
  /** Seconds the tracker may hold a long poll (default 20). */
  waitSeconds?: number;
  signal?: AbortSignal;
}

/** Peers asked for in an announce: enough to fill a node's links several times over. */
export const DEFAULT_NUMWANT = 50;

/** Largest announce or metainfo response accepted (a 1 TiB blob in 1 MiB pieces: ~45 MB of JSON). */
const MAX_RESPONSE_BYTES = 64 << 20;

/**
 * Errors with which a replica answers for the blob itself: any replica would say the same
 * (they share the origins), so they are final. Anything else from a replica (unreachable, 5xx
 * without one of these, a full store) sends the request to the next replica.
 */
const BLOB_ANSWERS: ReadonlySet<string> = new Set([
  ErrorCode.BLOB_UNKNOWN,
  ErrorCode.DIGEST_MISMATCH,
  ErrorCode.ORIGIN_UNAVAILABLE,
  ErrorCode.ORIGIN_UNAUTHORIZED,
  ErrorCode.INVALID_ARGUMENT,
  ErrorCode.INVALID_DIGEST,
  ErrorCode.INVALID_METAINFO,
]);

/**
 * Talks to the tracker replicas: BitTorrent HTTP announces and the metainfo endpoint. Each
 * digest goes to its owner first (rendezvous hashing over the replica list) and fails over
 * to the next replica when one is unreachable or fails; a replica that failed is tried after
 * the others for a while (`downMs`), so a dead owner costs one timeout, not one per request.
 */
export class TrackerClient {
  readonly #replicas: () => readonly string[];
  readonly #downMs: number;
  readonly #now: () => number;
  /** Replicas that failed, and until when they are tried last. */
  readonly #downUntil = new Map<string, number>();

  /** @param replicas tracker base URLs, or a function returning the current list (DNS discovery) */
  constructor(replicas: readonly string[] | (() => readonly string[]), options: TrackerClientOptions = {}) {
    this.#replicas = typeof replicas === 'function' ? replicas : () => replicas;
    this.#downMs = options.downMs ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** Replicas in the order this digest tries them: by rendezvous rank, replicas that just failed last. */
  replicasFor(digest: Digest): string[] {
    const replicas = this.#replicas().map((url) => url.replace(/\/+$/, ''));
    if (replicas.length === 0) throw new ShoalError(ErrorCode.TRACKER_UNAVAILABLE, 'no tracker configured');
    const ranked = rankReplicas(digest, replicas);
    const now = this.#now();
    const down = (replica: string) => (this.#downUntil.get(replica) ?? 0) > now;
    return [...ranked.filter((r) => !down(r)), ...ranked.filter(down)];
  }

  async announce(params: AnnounceParams, signal?: AbortSignal): Promise<AnnounceResult> {
    const query = [
      `info_hash=${percentEncode(params.meta.infoHash)}`,
      `peer_id=${percentEncode(params.peerId)}`,
      `port=${params.port}`,
      `uploaded=${Math.floor(params.uploaded)}`,
      `downloaded=${Math.floor(params.downloaded)}`,
      `left=${Math.floor(params.left)}`,
      'compact=1',
      `numwant=${params.numwant ?? DEFAULT_NUMWANT}`,
    ];
    if (params.event) query.push(`event=${params.event}`);
    return this.#withFailover(params.meta.digest, async (base) => {
      const { body } = await fetchBytes(`${base}/announce?${query.join('&')}`, signal, 10_000);
      return { ...parseAnnounce(body), replica: base };
    });
  }

  async metainfo(digest: Digest, query: MetainfoQuery = {}): Promise<Metainfo> {
    return (await this.seedStatus(digest, query)).meta;
  }

  /**
   * The metainfo, with the answering replica's warm-up state: asking starts the warm-up there
   * (the owner, or the next replica when the owner is down).
   */
  async seedStatus(digest: Digest, query: MetainfoQuery = {}): Promise<SeedStatus> {
    const search = new URLSearchParams();
    if (query.source) search.set('source', encodeSource(query.source));
    if (query.knownAbove !== undefined) {
      search.set('known', String(query.knownAbove));
      search.set('wait', String(query.waitSeconds ?? 20));
    }
    const suffix = search.size > 0 ? `?${search}` : '';
    const timeout = 15_000 + (query.knownAbove !== undefined ? (query.waitSeconds ?? 20) * 1000 : 0);
    return this.#withFailover(digest, async (base) => {
      const { body, headers } = await fetchBytes(`${base}/v1/metainfo/${digest}${suffix}`, query.signal, timeout);
      let json: unknown;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch {
        throw new ShoalError(ErrorCode.INVALID_METAINFO, `tracker ${base} sent metainfo that is not JSON`);
      }
      const state = headers['x-shoal-seed-state'];
      return {
        meta: Metainfo.fromJSON(json, digest),
        state: state === 'warming' || state === 'seeding' || state === 'failed' ? state : undefined,
        replica: base,
      };
    });
  }

  async #withFailover<T>(digest: Digest, attempt: (base: string) => Promise<T>): Promise<T> {
    const failures: string[] = [];
    for (const base of this.replicasFor(digest)) {
      try {
        const result = await attempt(base);
        this.#downUntil.delete(base);
        return result;
      } catch (err) {
        // Answers about the blob itself (unknown, bad metainfo, unauthorized) are final;
        // only an unreachable or failing replica sends us to the next one.
        if (!(err instanceof ShoalError) || err.code !== ErrorCode.TRACKER_UNAVAILABLE) throw err;
        const now = this.#now();
        // Forget lapsed entries: with DNS discovery, replicas come and go by address.
        for (const [replica, until] of this.#downUntil) if (until <= now) this.#downUntil.delete(replica);
        this.#downUntil.set(base, now + this.#downMs);
        failures.push(`${base}: ${err.message}`);
      }
    }
    throw new ShoalError(ErrorCode.TRACKER_UNAVAILABLE, `no tracker replica answered for ${digest}: ${failures.join('; ')}`);
  }
}

async function fetchBytes(
  url: string,
  signal: AbortSignal | undefined,
  timeoutMs: number,
): Promise<{ body: Buffer; headers: Record<string, string | string[] | undefined> }> {
  let response;
  try {
    response = await request(url, { signal, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  } catch (err) {
    if (signal?.aborted) throw new ShoalError(ErrorCode.ABORTED, 'request aborted');
    throw new ShoalError(ErrorCode.TRACKER_UNAVAILABLE, errorMessage(err), { cause: err });
  }
  const length = Number(response.headers['content-length'] ?? 0);
  if (length > MAX_RESPONSE_BYTES) {
    response.body.destroy();
    throw new ShoalError(ErrorCode.TRACKER_UNAVAILABLE, `tracker response of ${length} bytes is too large`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of response.body) {
      total += chunk.length;
      if (total > MAX_RESPONSE_BYTES) throw new Error(`tracker response exceeds ${MAX_RESPONSE_BYTES} bytes`);
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    response.body.destroy();
    throw new ShoalError(ErrorCode.TRACKER_UNAVAILABLE, errorMessage(err), { cause: err });
  }
  const body = Buffer.concat(chunks);
  if (response.statusCode >= 400) {
    const error = errorBody(body);
    // The replica's own verdict on the blob (the seeder found the origin's bytes wrong, the
    // origin refused it) is final; other failures of a replica send us to the next one.
    if (error?.code !== undefined && BLOB_ANSWERS.has(error.code)) {
      throw new ShoalError(error.code as ErrorCode, error.message ?? `tracker answered ${response.statusCode}`);
    }
    if (response.statusCode >= 500) {
      throw new ShoalError(ErrorCode.TRACKER_UNAVAILABLE, `tracker answered ${response.statusCode}: ${error?.message ?? body.toString('utf8', 0, 200)}`);
    }
    const code =
      response.statusCode === 404
        ? ErrorCode.BLOB_UNKNOWN
        : response.statusCode === 401 || response.statusCode === 403
          ? ErrorCode.ORIGIN_UNAUTHORIZED
          : ErrorCode.INVALID_ARGUMENT;
    throw new ShoalError(code, error?.message ?? `tracker answered ${response.statusCode}`);
  }
  return { body, headers: response.headers };
}

function errorBody(body: Buffer): { code?: string; message?: string } | undefined {
  try {
    const json = JSON.parse(body.toString('utf8')) as { error?: { code?: unknown; message?: unknown } };
    if (typeof json.error !== 'object' || json.error === null) return undefined;
    return {
      ...(typeof json.error.code === 'string' ? { code: json.error.code } : {}),
      ...(typeof json.error.message === 'string' ? { message: json.error.message } : {}),
    };
  } catch {
    return undefined;
  }
}

function percentEncode(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += `%${byte.toString(16).padStart(2, '0')}`;
  return out;
}

function parseAnnounce(body: Buffer): Omit<AnnounceResult, 'replica'> {
  let decoded: Record<string, unknown>;
  try {
    decoded = bencode.decode(body) as Record<string, unknown>;
  } catch {
    throw new ShoalError(ErrorCode.TRACKER_UNAVAILABLE, 'announce response is not bencoded');
  }
  const failure = decoded['failure reason'];
  if (failure !== undefined) {
    throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `tracker refused the announce: ${Buffer.from(failure as Uint8Array).toString('utf8')}`);
  }
  const peers: string[] = [];
  const compact = decoded.peers;
  if (compact instanceof Uint8Array) {
    for (let i = 0; i + 6 <= compact.length; i += 6) {
      peers.push(`${compact[i]}.${compact[i + 1]}.${compact[i + 2]}.${compact[i + 3]}:${(compact[i + 4]! << 8) | compact[i + 5]!}`);
    }
  }
  const compact6 = decoded.peers6;
  if (compact6 instanceof Uint8Array) {
    for (let i = 0; i + 18 <= compact6.length; i += 18) {
      const groups: string[] = [];
      for (let g = 0; g < 8; g++) groups.push(((compact6[i + 2 * g]! << 8) | compact6[i + 2 * g + 1]!).toString(16));
      peers.push(`[${groups.join(':')}]:${(compact6[i + 16]! << 8) | compact6[i + 17]!}`);
    }
  }
  return {
    interval: typeof decoded.interval === 'number' ? decoded.interval : 60,
    peers,
    complete: typeof decoded.complete === 'number' ? decoded.complete : 0,
    incomplete: typeof decoded.incomplete === 'number' ? decoded.incomplete : 0,
  };
}
