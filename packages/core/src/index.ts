export * from './digest.ts';
export * from './errors.ts';
export * from './metainfo.ts';
export * from './rate-limit.ts';
export * from './logger.ts';
export * from './source.ts';
export * from './store/content-store.ts';
export * from './store/partial-blob.ts';
