/** Sentences the systems of a rollout share in their labels and notes. */
import type { RolloutContext } from './context.ts';

/** The note on a result the machine's CPU limited. */
export function cpuNote(busyMean: number): string {
  return `the machine's CPU was ${Math.round(busyMean * 100)}% busy on average: this result is limited by the machine, not only by the design`;
}

/** How the nodes' links were capped, in words. */
export function linkWords(context: RolloutContext): string {
  const { scenario, network } = context;
  const rate = scenario.downloadRate === scenario.uploadRate ? `${scenario.downloadRate / 1e6} MB/s` : `${scenario.downloadRate / 1e6}/${scenario.uploadRate / 1e6} MB/s down/up`;
  return network.mode === 'token-bucket' ? `${rate} per node (token buckets in each process)` : `${rate} per node (tc tbf in a network namespace per node)`;
}
