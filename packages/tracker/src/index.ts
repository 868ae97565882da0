export * from './announce-server.ts';
export * from './handout.ts';
export * from './metrics.ts';
export * from './seeder.ts';
export * from './tracker.ts';
