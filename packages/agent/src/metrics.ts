import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { createMetricsRegistry } from '@shoal/core';
import type { SwarmObserver } from '@shoal/swarm';
import type { BlobDownload } from './blob-download.ts';

/** Where the bytes of a blob came from. */
export type ByteSource = 'store' | 'peer' | 'seeder' | 'origin';

/**
 * The agent's Prometheus metrics. Digests are never labels (unbounded cardinality); the
 * per-pull detail is in the "blob pulled" log line.
 */
export class AgentMetrics {
  readonly registry: Registry;
  readonly swarmObserver: SwarmObserver & { originBytes(bytes: number): void };
  readonly #bytes: Counter<'source'>;
  readonly #served: Counter<'registry'>;
  readonly #pulls: Counter<'registry' | 'result'>;
  readonly #pullSeconds: Histogram<'registry'>;
  readonly #registryRequests: Counter<'registry' | 'kind' | 'code'>;

  constructor(gauges: { storeBytes: () => number; activeSwarms: () => number; peers: () => number }) {
    const registry = createMetricsRegistry('shoal_agent');
    this.registry = registry;
    this.#bytes = new Counter({
      name: 'shoal_agent_blob_bytes_total',
      help: 'Bytes of blobs this node obtained, by where they came from: store (already here when asked), peer, seeder, origin',
      labelNames: ['source'],
      registers: [registry],
    });
    for (const source of ['store', 'peer', 'seeder', 'origin']) this.#bytes.inc({ source }, 0);
    this.#served = new Counter({
      name: 'shoal_agent_served_bytes_total',
      help: 'Bytes sent to clients (containerd, shoal pull), by registry ("none" for the artifact endpoint)',
      labelNames: ['registry'],
      registers: [registry],
    });
    this.#pulls = new Counter({
      name: 'shoal_agent_pulls_total',
      help: 'Blob pulls by this node (downloads, not cache hits), by registry and result',
      labelNames: ['registry', 'result'],
      registers: [registry],
    });
    this.#pullSeconds = new Histogram({
      name: 'shoal_agent_pull_duration_seconds',
      help: 'Time from the first request for a blob to its verified completion',
      labelNames: ['registry'],
      buckets: [0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600],
      registers: [registry],
    });
    this.#registryRequests = new Counter({
      name: 'shoal_agent_registry_requests_total',
      help: 'Registry mirror requests, by registry ("other" for registries not configured), kind (manifests, blobs, base, other) and HTTP status (0: client went away before an answer)',
      labelNames: ['registry', 'kind', 'code'],
      registers: [registry],
    });
    const uploaded = new Counter({ name: 'shoal_agent_uploaded_bytes_total', help: 'Bytes sent to peers', registers: [registry] });
    const rejected = new Counter({
      name: 'shoal_agent_piece_verification_failures_total',
      help: 'Pieces from peers that failed their sha256 check (the sender is banned)',
      registers: [registry],
    });
    const peers = new Gauge({
      name: 'shoal_agent_peers',
      help: 'Peer connections',
      registers: [registry],
      collect() {
        this.set(gauges.peers());
      },
    });
    void peers;
    new Gauge({
      name: 'shoal_agent_active_swarms',
      help: 'Blobs this node is downloading or seeding',
      registers: [registry],
      collect() {
        this.set(gauges.activeSwarms());
      },
    });
    new Gauge({
      name: 'shoal_agent_store_bytes',
      help: 'Bytes in the content store (complete and partial blobs)',
      registers: [registry],
      collect() {
        this.set(gauges.storeBytes());
      },
    });
    this.swarmObserver = {
      pieceStored: (source, bytes) => this.#bytes.inc({ source }, bytes),
      pieceRejected: () => rejected.inc(),
      uploaded: (bytes) => uploaded.inc(bytes),
      originBytes: (bytes) => this.#bytes.inc({ source: 'origin' }, bytes),
    };
  }

  /** Bytes a client got from a blob that was already complete here. */
  storeHit(bytes: number): void {
    this.#bytes.inc({ source: 'store' }, bytes);
  }

  served(registry: string, bytes: number): void {
    this.#served.inc({ registry }, bytes);
  }

  pullCompleted(download: BlobDownload, registry = 'none'): void {
    this.#pulls.inc({ registry, result: 'ok' });
    this.#pullSeconds.observe({ registry }, download.durationMs / 1000);
  }

  pullFailed(registry = 'none'): void {
    this.#pulls.inc({ registry, result: 'error' });
  }

  /** One answered registry mirror request. */
  registryRequest(registry: string, kind: string, status: number): void {
    this.#registryRequests.inc({ registry, kind, code: String(status) });
  }
}
