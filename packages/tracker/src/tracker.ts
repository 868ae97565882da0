import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ContentStore,
  type Logger,
  TokenBucket,
  badRequest,
  decodeSource,
  errorMessage,
  parseDigest,
  requestTarget,
  sendError,
  sendJson,
  sendMetrics,
} from '@shoal/core';
import { type Origin, RegistryClient } from '@shoal/origin';
import { SwarmNode, TrackerClient, TrackerReplicas } from '@shoal/swarm';
import { AnnounceServer } from './announce-server.ts';
import { LocalWarmer, ReplicaWarmer } from './blob-warmers.ts';
import { TrackerMetrics } from './metrics.ts';
import { PreheatService } from './preheat-service.ts';
import { Seeder } from './seeder.ts';

export interface TrackerOptions {
  /** HTTP address (announce, metainfo, preheat, metrics). Default 0.0.0.0:7000. */
  host?: string;
  port?: number;
  /** Peer wire address of the seeder. Default 0.0.0.0:6881. */
  peerHost?: string;
  peerPort?: number;
  /** Address agents dial to reach the seeder (the pod IP in Kubernetes). */
  advertiseHost: string;
  storeDir: string;
  /** Bytes the seeder store may use (0: unbounded). */
  storeCapacity?: number;
  /** Fractions of the capacity at which eviction starts and down to which it frees (default 0.9, 0.8). */
  storeHighWatermark?: number;
  storeLowWatermark?: number;
  /** Origins in the order the seeder tries them. */
  origins: readonly Origin[];
  /**
   * Every tracker replica, this one included (base URLs and `dns+http://<name>:<port>`), as
   * agents get them. Preheat warms each blob at its owner; empty: this tracker is the only one.
   */
  replicas?: readonly string[];
  /** Reads image manifests for preheat (share the registry origin's: credentials, token cache). Default: anonymous. */
  registry?: RegistryClient;
  /** A seeded blob with no peers for this long stops seeding and may be evicted (default 10 min). */
  seedIdleMs?: number;
  /** Seconds between announces asked of agents (default 30). */
  announceIntervalSeconds?: number;
  /** Ranged requests per blob warm-up (default 8). */
  fetchConcurrency?: number;
  /** Origin-wide ingress limit in bytes/s (0: unlimited). */
  originRate?: number;
  /** Seeder upload limit in bytes/s (0: unlimited). */
  uploadRate?: number;
  logger: Logger;
}

/** How long a metainfo long poll may wait at most. */
const MAX_WAIT_SECONDS = 30;
/** How long a long poll that has news waits for more, during a warm-up. */
const HASH_BATCH_MS = 100;

/**
 * `shoal tracker`: the announce server, the metainfo service and the seeder of one replica,
 * behind one HTTP listener. State is in memory (the announce server) and in the seeder's
 * store; there is no database.
 */
export class Tracker {
  readonly store: ContentStore;
  readonly node: SwarmNode;
  readonly metrics: TrackerMetrics;
  #announce: AnnounceServer | undefined;
  #seeder: Seeder | undefined;
  #preheat: PreheatService | undefined;
  #replicas: TrackerReplicas | undefined;
  #http: Server | undefined;
  readonly #options: TrackerOptions;
  readonly #log: Logger;
  #ready = false;

  constructor(options: TrackerOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.store = new ContentStore({
      root: options.storeDir,
      ...(options.storeCapacity ? { capacity: options.storeCapacity } : {}),
      ...(options.storeHighWatermark ? { highWatermark: options.storeHighWatermark } : {}),
      ...(options.storeLowWatermark ? { lowWatermark: options.storeLowWatermark } : {}),
      logger: this.#log,
    });
    this.node = new SwarmNode({
      role: 'seeder',
      host: options.peerHost ?? '0.0.0.0',
      port: options.peerPort ?? 6881,
      uploadRate: options.uploadRate ?? 0,
      logger: this.#log,
    });
    this.metrics = new TrackerMetrics(
      () => this.#announce,
      () => this.store.usedBytes,
    );
  }

  get seeder(): Seeder {
    if (!this.#seeder) throw new Error('tracker is not started');
    return this.#seeder;
  }

  get announceServer(): AnnounceServer {
    if (!this.#announce) throw new Error('tracker is not started');
    return this.#announce;
  }

  /** Base URL of the HTTP listener, as reachable on this host. */
  get url(): string {
    const address = this.#http?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('tracker is not listening');
    const host = address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1' : address.address;
    return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  }

  async start(): Promise<void> {
    await this.store.start();
    await this.node.start();
    const seederRef: { current?: Seeder } = {};
    this.#announce = new AnnounceServer({
      intervalSeconds: this.#options.announceIntervalSeconds ?? 30,
      isSeeder: (peerId) => seederRef.current?.isSeederPeer(peerId) ?? false,
      logger: this.#log,
    });
    this.#seeder = new Seeder({
      store: this.store,
      node: this.node,
      origins: this.#options.origins,
      announce: this.#announce,
      advertiseHost: this.#options.advertiseHost,
      ...(this.#options.fetchConcurrency ? { fetchConcurrency: this.#options.fetchConcurrency } : {}),
      ...(this.#options.originRate ? { originRate: new TokenBucket(this.#options.originRate) } : {}),
      ...(this.#options.seedIdleMs ? { idleMs: this.#options.seedIdleMs } : {}),
      observer: this.metrics.observer,
      logger: this.#log,
    });
    seederRef.current = this.#seeder;
    const replicas = this.#options.replicas?.length ? new TrackerReplicas({ specs: this.#options.replicas, logger: this.#log }) : undefined;
    await replicas?.start();
    this.#replicas = replicas;
    this.#preheat = new PreheatService({
      warmer: replicas ? new ReplicaWarmer(new TrackerClient(() => replicas.list())) : new LocalWarmer(this.#seeder),
      registry: this.#options.registry ?? new RegistryClient(),
      ...(replicas ? { peers: () => replicas.list() } : {}),
      logger: this.#log,
    });
    this.#preheat.start();
    const http = createServer((req, res) => {
      this.#route(req, res).catch((err: unknown) => {
        // The path only: a query's source may hold a presigned URL, whose signature is a credential.
        this.#log.error({ err: errorMessage(err), path: req.url?.split('?')[0] }, 'request failed');
        sendError(res, err);
      });
    });
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(this.#options.port ?? 7000, this.#options.host ?? '0.0.0.0', () => {
        http.off('error', reject);
        resolve();
      });
    });
    this.#http = http;
    this.#ready = true;
    this.#log.info({ url: this.url, peerPort: this.node.port }, 'tracker started');
  }

  async stop(): Promise<void> {
    this.#ready = false;
    const http = this.#http;
    this.#http = undefined;
    if (http) {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
    this.#preheat?.stop();
    this.#replicas?.stop();
    await this.#seeder?.stop();
    this.#announce?.close();
    await this.node.stop();
    await this.store.stop();
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { path, query } = requestTarget(req);
    if (req.method !== 'GET' && req.method !== 'HEAD' && !path.startsWith('/v1/preheat')) {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/announce') return this.announceServer.handle(req, res);
    if (path.startsWith('/v1/metainfo/')) return this.#metainfo(res, path, query);
    if (path === '/v1/blobs') return this.#blobs(res);
    if (path === '/v1/preheat' || path.startsWith('/v1/preheat/')) return this.#preheat!.handle(req, res, path, query);
    if (path === '/metrics') return sendMetrics(res, this.metrics.registry);
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (path === '/readyz') return sendJson(res, this.#ready ? 200 : 503, { ready: this.#ready });
    sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `no route for ${path}` } });
  }

  /**
   * GET /v1/metainfo/<digest>[?source=...][&known=N&wait=S]: the blob's metainfo. With
   * `known`, a long poll: answers once more than N piece hashes are known (cold start), the
   * warm-up ends, or S seconds pass.
   */
  async #metainfo(res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    const digest = parseDigest(decodeURIComponent(path.slice('/v1/metainfo/'.length)));
    const sourceParam = query.get('source');
    let source;
    try {
      source = sourceParam === null ? undefined : decodeSource(sourceParam);
    } catch (err) {
      throw badRequest(`invalid source: ${errorMessage(err)}`);
    }
    const blob = await this.seeder.ensure(digest, source);
    const known = query.get('known');
    if (known !== null) {
      const above = Number(known);
      const wait = Math.min(MAX_WAIT_SECONDS, Math.max(0, Number(query.get('wait') ?? 20)));
      if (!Number.isInteger(above) || above < 0 || !Number.isFinite(wait)) throw badRequest('known must be an integer >= 0');
      const abort = new AbortController();
      res.once('close', () => abort.abort());
      await blob.waitForHashes(above, wait * 1000, abort.signal);
      // Pieces land many a second during a warm-up, and each answer carries every hash: let
      // a few more gather, or each piece would send the whole list to every poller.
      if (blob.state === 'warming' && !blob.meta.isComplete && !abort.signal.aborted) {
        await new Promise((resolve) => setTimeout(resolve, HASH_BATCH_MS));
      }
    }
    if (blob.state === 'failed' && blob.error) throw blob.error;
    res.setHeader('X-Shoal-Seed-State', blob.state);
    sendJson(res, 200, blob.meta);
  }

  async #blobs(res: ServerResponse): Promise<void> {
    const blobs = await this.seeder.list();
    sendJson(res, 200, {
      blobs: blobs.map((b) => ({
        digest: b.meta.digest,
        size: b.meta.size,
        state: b.state,
        origin: b.origin,
        originBytes: b.originBytes,
        knownPieces: b.meta.knownCount,
        pieces: b.meta.pieceCount,
        peers: b.swarm.peers.size,
        uploadedBytes: b.swarm.uploadedBytes,
        ...(b.error ? { error: { code: b.error.code, message: b.error.message } } : {}),
      })),
    });
  }
}
