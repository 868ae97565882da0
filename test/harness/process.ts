/** Managed child processes: shared with the benchmarks, see bench/src/lib/managed-process.ts. */
export {
  startProcess,
  waitFor,
  freePort,
  makeTempDir,
  removeDir,
  run,
  runAllowFail,
  retryOnPortClash,
  type ManagedProcess,
  type ProcessExit,
  type StartProcessOptions,
  type WaitForOptions,
  type RunOptions,
  type RunResult,
} from '@shoal/bench/harness';
