/**
 * The real-process building blocks that the benchmarks and the end-to-end tests share:
 * managed processes, the OCI registry (distribution, optionally a pull-through cache) and the
 * BitTorrent baseline (opentracker + aria2c + mktorrent). `test/harness` re-exports them.
 */
export * from './lib/managed-process.ts';
export * from './lib/registry.ts';
export * from './lib/aria2.ts';
