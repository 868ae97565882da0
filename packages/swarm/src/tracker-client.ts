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
 * Talks to the tracker replicas: BitTorrent HTTP announces and the metainfo endpoint. Each
 * digest goes to its owner first (rendezvous hashing over the replica list) and fails over
 * to the next replica on connection errors and 5xx answers.
 */
export class TrackerClient {
  readonly #replicas: () => readonly string[];

  /** @param replicas tracker base URLs, or a function returning the current list (DNS discovery) */
  constructor(replicas: readonly string[] | (() => readonly string[])) {
    this.#replicas = typeof replicas === 'function' ? replicas : () => replicas;
  }

  /** Replicas in the order this digest tries them. */
  replicasFor(digest: Digest): string[] {
    const replicas = this.#replicas().map((url) => url.replace(/\/+$/, ''));
    if (replicas.length === 0) throw new ShoalError(ErrorCode.TRACKER_UNAVAILABLE, 'no tracker configured');
    return rankReplicas(digest, replicas);
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
      const body = await fetchBytes(`${base}/announce?${query.join('&')}`, signal, 10_000);
      return parseAnnounce(body);
    });
  }

  async metainfo(digest: Digest, query: MetainfoQuery = {}): Promise<Metainfo> {
    const search = new URLSearchParams();
    if (query.source) search.set('source', encodeSource(query.source));
    if (query.knownAbove !== undefined) {
      search.set('known', String(query.knownAbove));
      search.set('wait', String(query.waitSeconds ?? 20));
    }
    const suffix = search.size > 0 ? `?${search}` : '';
    const timeout = 15_000 + (query.knownAbove !== undefined ? (query.waitSeconds ?? 20) * 1000 : 0);
    return this.#withFailover(digest, async (base) => {
      const body = await fetchBytes(`${base}/v1/metainfo/${digest}${suffix}`, query.signal, timeout);
      let json: unknown;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch {
        throw new ShoalError(ErrorCode.INVALID_METAINFO, `tracker ${base} sent metainfo that is not JSON`);
      }
      return Metainfo.fromJSON(json, digest);
    });
  }

  async #withFailover<T>(digest: Digest, attempt: (base: string) => Promise<T>): Promise<T> {
    const failures: string[] = [];
    for (const base of this.replicasFor(digest)) {
      try {
        return await attempt(base);
      } catch (err) {
        // Answers about the blob itself (unknown, bad metainfo, unauthorized) are final;
        // only an unreachable or failing replica sends us to the next one.
        if (!(err instanceof ShoalError) || err.code !== ErrorCode.TRACKER_UNAVAILABLE) throw err;
        failures.push(`${base}: ${err.message}`);
      }
    }
    throw new ShoalError(ErrorCode.TRACKER_UNAVAILABLE, `no tracker replica answered for ${digest}: ${failures.join('; ')}`);
  }
}

async function fetchBytes(url: string, signal: AbortSignal | undefined, timeoutMs: number): Promise<Buffer> {
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
  if (response.statusCode >= 500) {
    throw new ShoalError(ErrorCode.TRACKER_UNAVAILABLE, `tracker answered ${response.statusCode}: ${body.toString('utf8', 0, 200)}`);
  }
  if (response.statusCode >= 400) {
    const message = errorBody(body) ?? `tracker answered ${response.statusCode}`;
    const code =
      response.statusCode === 404
        ? ErrorCode.BLOB_UNKNOWN
        : response.statusCode === 401 || response.statusCode === 403
          ? ErrorCode.ORIGIN_UNAUTHORIZED
          : response.statusCode === 502
            ? ErrorCode.ORIGIN_UNAVAILABLE
            : ErrorCode.INVALID_ARGUMENT;
    throw new ShoalError(code, message);
  }
  return body;
}

function errorBody(body: Buffer): string | undefined {
  try {
    const json = JSON.parse(body.toString('utf8')) as { error?: { message?: string } };
    return json.error?.message;
  } catch {
    return undefined;
  }
}

function percentEncode(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += `%${byte.toString(16).padStart(2, '0')}`;
  return out;
}

function parseAnnounce(body: Buffer): AnnounceResult {
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
