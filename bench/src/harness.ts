/**
 * The real-process building blocks that the benchmarks and the end-to-end tests share:
 * managed processes, the OCI registry (distribution, optionally a pull-through cache), the
 * BitTorrent baseline (opentracker + aria2c + mktorrent), offline test images pushed with
 * skopeo, and containerd. `test/harness` re-exports them.
 */
export * from './lib/managed-process.ts';
export * from './lib/registry.ts';
export * from './lib/aria2.ts';
export * from './lib/tar.ts';
export * from './lib/oci-layout.ts';
export * from './lib/images.ts';
export * from './lib/containerd.ts';
