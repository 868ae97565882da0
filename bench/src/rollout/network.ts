/**
 * Where a rollout's processes run and how their links are capped. By default every process
 * binds loopback and caps its own link with token buckets (the agent's --download-rate and
 * --upload-rate, aria2's limits, the benchmark programs' --rate). With `netns`, each node
 * runs in its own network namespace behind a `tc tbf` link (see netns.ts) and the processes
 * run uncapped.
 */
export interface RolloutNetwork {
  readonly mode: 'token-bucket' | 'netns-tbf';
  /** Address of the origin, the tracker, the cache and the aria2 seeder. */
  readonly serverHost: string;
  /** Address node `i` binds and is reached at. */
  nodeHost(i: number): string;
  /** Command prefix that runs a process on node `i` (empty on loopback). */
  nodePrefix(i: number): string[];
  /** Command prefix for the servers. */
  serverPrefix(): string[];
  /** Whether processes must cap their own links. */
  readonly capsInProcess: boolean;
  stop(): Promise<void>;
}

export function loopbackNetwork(): RolloutNetwork {
  return {
    mode: 'token-bucket',
    serverHost: '127.0.0.1',
    nodeHost: () => '127.0.0.1',
    nodePrefix: () => [],
    serverPrefix: () => [],
    capsInProcess: true,
    async stop() {},
  };
}
