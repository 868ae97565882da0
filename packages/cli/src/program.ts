import { Command } from 'commander';
import { agentCommand } from './commands/agent.ts';
import { benchCommand } from './commands/bench.ts';
import { demoCommand } from './commands/demo.ts';
import { preheatCommand } from './commands/preheat.ts';
import { pullCommand } from './commands/pull.ts';
import { trackerCommand } from './commands/tracker.ts';

/** The `shoal` command line: one executable, a subcommand per role. */
export function program(): Command {
  return new Command('shoal')
    .description('peer-to-peer distribution of large content-addressed blobs to Kubernetes fleets')
    .version('0.1.0')
    // Options belong to the command they follow: `shoal agent configure-containerd` has an
    // --upstream-config of its own, which `agent` must not take.
    .enablePositionalOptions()
    .addCommand(trackerCommand())
    .addCommand(agentCommand())
    .addCommand(pullCommand())
    .addCommand(preheatCommand())
    .addCommand(demoCommand())
    .addCommand(benchCommand());
}
