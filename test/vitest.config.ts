import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    // End-to-end tests start real daemons (registry, containerd, trackers) and move real bytes
    // on a 2-core machine: give hooks and tests room, and run files one at a time so they do
    // not fight over CPU, ports and mounts.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    fileParallelism: false,
    // Child processes: a forked worker runs the harness's exit hook (kills leftover daemons)
    // when it ends.
    pool: 'forks',
  },
});
