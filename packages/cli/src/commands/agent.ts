import { Command } from 'commander';
import { Agent, loadUpstreamConfig } from '@shoal/agent';
import { fileCredentialsProvider } from '@shoal/origin';
import { daemonLogger } from '../logging.ts';
import { option, parseBytes, parseDuration, parseListen, parsePort, splitList } from '../options.ts';
import { runUntilSignal } from '../run.ts';
import { configureContainerdCommand } from './configure-containerd.ts';

export function agentCommand(): Command {
  const command = new Command('agent')
    .description('run the node agent: artifact endpoint, registry mirror for containerd, swarm peer')
    .addOption(option('--listen <host:port>', 'HTTP address (artifacts, registry mirror, metrics)').default('0.0.0.0:5000').argParser(parseListen))
    .addOption(option('--peer-port <port>', 'peer wire port').default(6881).argParser(parsePort))
    .addOption(option('--tracker <urls>', 'tracker replicas, comma-separated: base URLs, or dns+http://<headless service>:<port> resolved to one replica per address (none: origin only)').default(''))
    .addOption(option('--store <dir>', 'content store directory').default('/var/lib/shoal'))
    .addOption(option('--store-capacity <bytes>', 'bytes the store may use, 0 for no bound (e.g. 200Gi)').default(0).argParser(parseBytes))
    .addOption(option('--download-rate <bytes/s>', 'node-wide download limit, 0 for none').default(0).argParser(parseBytes))
    .addOption(option('--upload-rate <bytes/s>', 'node-wide upload limit, 0 for none').default(0).argParser(parseBytes))
    .addOption(option('--stall-timeout <duration>', 'swarm progress timeout before falling back to the origin').default(15_000).argParser(parseDuration))
    .addOption(option('--upstream-config <file>', 'registry mirror upstreams, JSON {"<registry host>": "<url>"} (default https://<host>; docker.io is registry-1.docker.io)'))
    .addOption(option('--default-registry <host>', 'registry of mirror requests without ?ns= (clients other than containerd)').default('docker.io'))
    .addOption(
      option('--registries <hosts>', 'the only registries the mirror serves, comma-separated (default: any); others get a 404 and containerd pulls them itself'),
    )
    .addOption(
      option('--fallback <mode>', 'a blob the swarm cannot deliver: origin (fetch it from the registry or URL) or none (404, so containerd asks the registry)')
        .choices(['origin', 'none'])
        .default('origin'),
    )
    .addOption(option('--credentials <file>', "registry credentials for this agent's own fetches (fallback); clients' access is always checked with their own"))
    .addOption(option('--log-level <level>', 'log level').default('info'))
    .action(async (opts) => {
      const logger = daemonLogger('agent', opts.logLevel);
      const agent = new Agent({
        host: opts.listen.host,
        port: opts.listen.port,
        peerPort: opts.peerPort,
        trackers: splitList(opts.tracker),
        storeDir: opts.store,
        storeCapacity: opts.storeCapacity,
        downloadRate: opts.downloadRate,
        uploadRate: opts.uploadRate,
        stallMs: opts.stallTimeout,
        ...(opts.upstreamConfig ? { upstreams: loadUpstreamConfig(opts.upstreamConfig) } : {}),
        defaultRegistry: opts.defaultRegistry,
        ...(opts.registries ? { registries: splitList(opts.registries) } : {}),
        fallback: opts.fallback,
        ...(opts.credentials ? { registryCredentials: fileCredentialsProvider(opts.credentials) } : {}),
        logger,
      });
      await runUntilSignal(agent, logger);
    });
  // Options of `agent` are recognised before its subcommand only: configure-containerd has
  // an --upstream-config of its own.
  command.enablePositionalOptions().addCommand(configureContainerdCommand());
  return command;
}
