export * from './agent.ts';
export * from './blob-download.ts';
export * from './blob-response.ts';
export * from './blob-service.ts';
export * from './metrics.ts';
export * from './containerd/index.ts';
export * from './registry/index.ts';
