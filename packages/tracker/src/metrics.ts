import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { createMetricsRegistry } from '@shoal/core';
import type { AnnounceServer } from './announce-server.ts';
import type { SeederObserver } from './seeder.ts';

/**
 * The tracker's Prometheus metrics. Digests are never labels (unbounded cardinality): per-blob
 * detail is in the logs and in GET /v1/blobs.
 */
export class TrackerMetrics {
  readonly registry: Registry;
  readonly observer: SeederObserver;

  constructor(announce: () => AnnounceServer | undefined, storeBytes: () => number) {
    const registry = createMetricsRegistry('shoal_tracker');
    this.registry = registry;
    new Gauge({
      name: 'shoal_tracker_swarms',
      help: 'Blobs with at least one announced peer',
      registers: [registry],
      collect() {
        this.set(announce()?.summaries().length ?? 0);
      },
    });
    new Gauge({
      name: 'shoal_tracker_peers',
      help: 'Announced peers, by whether they have the whole blob',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        let complete = 0;
        let incomplete = 0;
        for (const s of announce()?.summaries() ?? []) {
          complete += s.complete;
          incomplete += s.incomplete;
        }
        this.set({ state: 'complete' }, complete);
        this.set({ state: 'incomplete' }, incomplete);
      },
    });
    new Gauge({
      name: 'shoal_seeder_store_bytes',
      help: 'Bytes in the seeder store (complete and partial blobs)',
      registers: [registry],
      collect() {
        this.set(storeBytes());
      },
    });
    const originBytes = new Counter({
      name: 'shoal_seeder_origin_bytes_total',
      help: 'Bytes the seeder read from origins',
      labelNames: ['origin'],
      registers: [registry],
    });
    const uploaded = new Counter({ name: 'shoal_seeder_uploaded_bytes_total', help: 'Bytes the seeder sent to peers', registers: [registry] });
    const warms = new Counter({
      name: 'shoal_seeder_warms_total',
      help: 'Blob warm-ups from origins, by result',
      labelNames: ['origin', 'result'],
      registers: [registry],
    });
    const warmSeconds = new Histogram({
      name: 'shoal_seeder_warm_duration_seconds',
      help: 'Time to read a blob from its origin',
      labelNames: ['origin'],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 1200, 3600],
      registers: [registry],
    });
    const peers = new Gauge({ name: 'shoal_seeder_peers', help: 'Peer connections of the seeder', registers: [registry] });
    this.observer = {
      originBytes: (origin, bytes) => originBytes.inc({ origin }, bytes),
      warmed: (origin, seconds) => {
        warms.inc({ origin, result: 'ok' });
        warmSeconds.observe({ origin }, seconds);
      },
      warmFailed: (origin) => warms.inc({ origin, result: 'error' }),
      uploaded: (bytes) => uploaded.inc(bytes),
      peerConnected: () => peers.inc(),
      peerDisconnected: () => peers.dec(),
    };
  }
}
