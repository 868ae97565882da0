import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type BlobSource,
  ContentStore,
  type Logger,
  badRequest,
  errorMessage,
  isShoalError,
  ErrorCode,
  parseDigest,
  requestTarget,
  sendError,
  sendJson,
  sendMetrics,
} from '@shoal/core';
import { HttpOrigin, type Origin, RegistryOrigin, type RegistryCredentialsProvider } from '@shoal/origin';
import { SwarmNode, TrackerClient, TrackerReplicas } from '@shoal/swarm';
import { BlobService } from './blob-service.ts';
import { sendBlob } from './blob-response.ts';
import { AgentMetrics } from './metrics.ts';
import { type FallbackMode, RegistryMirror, type UpstreamConfig, Upstreams, isMirrorPath } from './registry/index.ts';

export interface AgentOptions {
  /** HTTP address of the artifact endpoint, registry mirror and metrics. Default 0.0.0.0:5000. */
  host?: string;
  port?: number;
  /** Peer wire address. Default 0.0.0.0:6881. */
  peerHost?: string;
  peerPort?: number;
  /**
   * Tracker replicas: base URLs and `dns+http://<name>:<port>` names (a headless Service,
   * resolved now and then to one replica per address), or a function returning the current
   * base URLs. Empty to run without a tracker (origin only).
   */
  trackers: readonly string[] | (() => readonly string[]);
  storeDir: string;
  /** Bytes the store may use (0: unbounded). */
  storeCapacity?: number;
  /** Node-wide download and upload limits in bytes/s (0: unlimited). */
  downloadRate?: number;
  uploadRate?: number;
  /** Swarm progress timeout before falling back to the origin (default 15 s). */
  stallMs?: number;
  /** Connections per blob (default 10). */
  maxPeersPerBlob?: number;
  /** Registry host -> API base URL for the registry mirror and the fallback (`--upstream-config`). */
  upstreams?: UpstreamConfig;
  /** Registry of mirror requests that carry no `?ns=` (default docker.io). */
  defaultRegistry?: string;
  /** When given, the only registries the mirror serves (the default registry among them). */
  registries?: readonly string[];
  /** Credentials for this agent's own fetches from registries (fallback); never used to decide what a client may read. */
  registryCredentials?: RegistryCredentialsProvider;
  /**
   * What the agent does with a blob the swarm cannot deliver (no tracker, stalled swarm, the
   * seeder refused): `origin` (default) fetches it from the origin itself; `none` gives up
   * (the mirror answers 404, so containerd asks the registry directly).
   */
  fallback?: FallbackMode;
  logger: Logger;
}

/**
 * `shoal agent`: the per-node daemon. Serves blobs by digest over HTTP (the artifact endpoint
 * used by `shoal pull`), fetching them through the swarm into the node's store and seeding
 * them to other nodes.
 */
export class Agent {
  readonly store: ContentStore;
  readonly node: SwarmNode;
  readonly metrics: AgentMetrics;
  readonly blobs: BlobService;
  readonly #options: AgentOptions;
  /** The tracker replicas, when named by URL or DNS (resolved and refreshed while running). */
  readonly #replicas: TrackerReplicas | undefined;
  readonly #log: Logger;
  readonly #httpOrigin = new HttpOrigin();
  readonly #registryOrigin: RegistryOrigin;
  readonly #mirror: RegistryMirror;
  #http: Server | undefined;
  #ready = false;

  constructor(options: AgentOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.store = new ContentStore({
      root: options.storeDir,
      ...(options.storeCapacity ? { capacity: options.storeCapacity } : {}),
      logger: this.#log,
    });
    this.node = new SwarmNode({
      role: 'agent',
      host: options.peerHost ?? '0.0.0.0',
      port: options.peerPort ?? 6881,
      downloadRate: options.downloadRate ?? 0,
      uploadRate: options.uploadRate ?? 0,
      logger: this.#log,
    });
    let activeSwarms = 0;
    this.metrics = new AgentMetrics({
      storeBytes: () => this.store.usedBytes,
      activeSwarms: () => activeSwarms,
      peers: () => this.node.connectionCount,
    });
    const upstreams = new Upstreams(options.upstreams ?? {}, options.defaultRegistry, options.registries);
    this.#registryOrigin = new RegistryOrigin({
      endpoints: { ...upstreams.endpoints },
      ...(options.registryCredentials ? { credentials: options.registryCredentials } : {}),
    });
    const trackers = options.trackers;
    const hasTrackers = typeof trackers === 'function' || trackers.length > 0;
    if (typeof trackers !== 'function' && hasTrackers) this.#replicas = new TrackerReplicas({ specs: trackers, logger: this.#log });
    const replicas = this.#replicas;
    this.blobs = new BlobService({
      store: this.store,
      node: this.node,
      tracker: hasTrackers ? new TrackerClient(replicas ? () => replicas.list() : trackers) : undefined,
      originFor: (source) => this.#originFor(source),
      ...(options.stallMs ? { stallMs: options.stallMs } : {}),
      ...(options.maxPeersPerBlob ? { maxPeers: options.maxPeersPerBlob } : {}),
      metrics: this.metrics,
      registryLabel: (source) => (source?.kind === 'registry' ? upstreams.label(source.registry) : 'none'),
      logger: this.#log,
    });
    this.#mirror = new RegistryMirror({
      upstreams,
      blobs: this.blobs,
      store: this.store,
      fallback: options.fallback ?? 'origin',
      metrics: this.metrics,
      logger: this.#log,
    });
    setInterval(() => {
      void this.blobs.active().then((list) => {
        activeSwarms = list.length;
      });
    }, 2000).unref();
  }

  /** Base URL of the HTTP listener, as reachable on this host. */
  get url(): string {
    const address = this.#http?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('agent is not listening');
    const host = address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1' : address.address;
    return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  }

  async start(): Promise<void> {
    await this.store.start();
    await this.node.start();
    await this.#replicas?.start();
    const http = createServer((req, res) => {
      this.#route(req, res).catch((err: unknown) => {
        if (!isShoalError(err, ErrorCode.ABORTED)) this.#log.warn({ err: errorMessage(err), method: req.method, url: redactQuery(req.url) }, 'request failed');
        sendError(res, err);
      });
    });
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(this.#options.port ?? 5000, this.#options.host ?? '0.0.0.0', () => {
        http.off('error', reject);
        resolve();
      });
    });
    this.#http = http;
    this.#ready = true;
    this.#log.info({ url: this.url, peerPort: this.node.port }, 'agent started');
  }

  async stop(): Promise<void> {
    this.#ready = false;
    const http = this.#http;
    this.#http = undefined;
    if (http) {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
    await this.blobs.stop();
    this.#replicas?.stop();
    await this.node.stop();
    await this.store.stop();
  }

  /** The origin this agent itself may fetch a blob from (fallback), by source. */
  #originFor(source: BlobSource | undefined): Origin | undefined {
    if (this.#options.fallback === 'none') return undefined;
    if (source?.kind === 'url') return this.#httpOrigin;
    if (source?.kind === 'registry') return this.#registryOrigin;
    return undefined;
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { path, query } = requestTarget(req);
    if (path.startsWith('/v1/blobs/')) return this.#artifact(req, res, path, query);
    if (isMirrorPath(path)) return this.#mirror.handle(req, res, path, query);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') return sendMetrics(res, this.metrics.registry);
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (path === '/readyz') return sendJson(res, this.#ready ? 200 : 503, { ready: this.#ready });
    if (path === '/v1/status') return this.#status(res);
    sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `no route for ${path}` } });
  }

  /**
   * GET|HEAD /v1/blobs/sha256:<hex>[?url=<origin URL>]: any blob by digest. The URL, when
   * given, is where the seeder (or this agent, as a fallback) may fetch it; the digest alone
   * names the blob.
   */
  async #artifact(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    const digest = parseDigest(decodeURIComponent(path.slice('/v1/blobs/'.length)));
    const originUrl = query.get('url');
    let source: BlobSource | undefined;
    if (originUrl !== null) {
      if (!/^https?:\/\//.test(originUrl)) throw badRequest('url must be an http(s) URL');
      source = { kind: 'url', url: originUrl };
    }
    const handle = await this.blobs.open(digest, source);
    try {
      await sendBlob(req, res, handle, {
        onBytes: (bytes, from) => {
          this.metrics.served('none', bytes);
          if (from === 'store') this.metrics.storeHit(bytes);
        },
      });
    } finally {
      handle.release();
    }
  }

  async #status(res: ServerResponse): Promise<void> {
    const downloads = await this.blobs.active();
    sendJson(res, 200, {
      peerId: this.node.peerIdHex,
      peerPort: this.node.port,
      storeBytes: this.store.usedBytes,
      blobs: downloads.map((d) => ({
        digest: d.partial.meta.digest,
        size: d.partial.meta.size,
        complete: d.complete,
        pieces: d.partial.meta.pieceCount,
        havePieces: d.partial.haveCount,
        peers: d.swarm.peers.size,
        bytes: d.bytes,
        uploadedBytes: d.swarm.uploadedBytes,
        durationMs: Math.round(d.durationMs),
        ...(d.fallbackReason ? { fallback: d.fallbackReason } : {}),
      })),
    });
  }
}

/** A request URL without its query (which may hold a presigned URL's signature). */
function redactQuery(url: string | undefined): string | undefined {
  return url?.split('?')[0];
}
