import { Command, InvalidArgumentError } from 'commander';
import { configureContainerd, formatAction, loadUpstreamConfig, undoContainerdConfig } from '@shoal/agent';
import { option, splitList } from '../options.ts';

/** Collects a repeatable value (an environment twin holds them comma-separated). */
function collectRegistries(value: string, previous: string[] = []): string[] {
  const added = splitList(value);
  if (added.length === 0) throw new InvalidArgumentError('expected a registry host (e.g. docker.io) or _default');
  return [...previous, ...added];
}

/**
 * `shoal agent configure-containerd`: points the node's containerd at its agent (hosts.toml
 * under `config_path`), or with `--undo` puts back what was there. Prints one line per action.
 */
export function configureContainerdCommand(print: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Command {
  return new Command('configure-containerd')
    .description("write containerd hosts.toml files that route pulls through this node's agent (or --undo them)")
    .addOption(option('--certs-dir <dir>', "containerd's registry config_path (where the host's is mounted)").default('/etc/containerd/certs.d'))
    .addOption(option('--mirror <url>', 'the agent as containerd reaches it, e.g. http://127.0.0.1:5000'))
    .addOption(
      option('--registry <host>', 'a registry to route through the agent: a host such as docker.io, or _default for every registry without a directory of its own (repeatable)').argParser(
        collectRegistries,
      ),
    )
    .addOption(option('--upstream-config <file>', 'JSON {"<registry host>": "<url>"}: the real registry of each, written as hosts.toml server'))
    .addOption(option('--undo', 'restore the backups and remove the files Shoal wrote (only --registry ones, if given)'))
    .action(async (opts: { certsDir: string; mirror?: string; registry?: string[]; upstreamConfig?: string; undo?: boolean }) => {
      if (opts.undo) {
        const actions = await undoContainerdConfig({
          certsDir: opts.certsDir,
          ...(opts.registry ? { registries: opts.registry } : {}),
        });
        for (const action of actions) print(formatAction(action));
        if (actions.length === 0) print(`nothing to undo in ${opts.certsDir}`);
        return;
      }
      if (!opts.mirror) throw new InvalidArgumentError('--mirror is required (the agent as containerd reaches it, e.g. http://127.0.0.1:5000)');
      if (!opts.registry) throw new InvalidArgumentError('--registry is required: a registry host (docker.io, ghcr.io, ...) or _default, repeatable');
      const actions = await configureContainerd({
        certsDir: opts.certsDir,
        mirrorUrl: opts.mirror,
        registries: opts.registry,
        ...(opts.upstreamConfig ? { upstreams: loadUpstreamConfig(opts.upstreamConfig) } : {}),
      });
      for (const action of actions) print(formatAction(action));
    });
}
