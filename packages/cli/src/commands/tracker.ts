import { Command } from 'commander';
import { DirectoryOrigin, HttpOrigin, type Origin, RegistryOrigin, fileCredentialsProvider } from '@shoal/origin';
import { Tracker } from '@shoal/tracker';
import { daemonLogger } from '../logging.ts';
import { collectEndpoint, option, parseBytes, parseDuration, parseListen, parsePort } from '../options.ts';
import { runUntilSignal } from '../run.ts';

export function trackerCommand(): Command {
  return new Command('tracker')
    .description('run the tracker: announce server, metainfo service and seeder (one replica)')
    .addOption(option('--listen <host:port>', 'HTTP address (announce, metainfo, metrics)').default('0.0.0.0:7000').argParser(parseListen))
    .addOption(option('--peer-port <port>', 'peer wire port of the seeder').default(6881).argParser(parsePort))
    .addOption(option('--advertise-host <host>', 'address agents dial to reach the seeder (the pod IP)').default('127.0.0.1'))
    .addOption(option('--store <dir>', 'seeder store directory').default('/var/lib/shoal-tracker'))
    .addOption(option('--store-capacity <bytes>', 'bytes the store may use, 0 for no bound (e.g. 500Gi)').default(0).argParser(parseBytes))
    .addOption(option('--origin-dir <dir>', 'serve blobs from a directory (an OCI layout or files named by digest)'))
    .addOption(option('--origin-url <url>', 'serve blobs from <url>/<digest>, or a template with {digest}, {hex}, {hex2}'))
    .addOption(option('--registry-endpoint <registry=url>', 'base URL of a registry, e.g. docker.io=https://mirror.internal (repeatable; default https://<registry>)').argParser(collectEndpoint).default({}))
    .addOption(option('--credentials <file>', 'registry credentials (JSON: {"registries": {host: {username, password}}} or a Docker config with "auths"); re-read when it changes'))
    .addOption(option('--origin-rate <bytes/s>', 'origin-wide ingress limit, 0 for none').default(0).argParser(parseBytes))
    .addOption(option('--upload-rate <bytes/s>', 'seeder upload limit, 0 for none').default(0).argParser(parseBytes))
    .addOption(option('--fetch-concurrency <n>', 'ranged requests per blob warm-up').default(8).argParser(Number))
    .addOption(option('--announce-interval <duration>', 'announce period asked of agents').default(30_000).argParser(parseDuration))
    .addOption(option('--log-level <level>', 'log level').default('info'))
    .action(async (opts) => {
      const logger = daemonLogger('tracker', opts.logLevel);
      const origins: Origin[] = [];
      if (opts.originDir) origins.push(new DirectoryOrigin({ root: opts.originDir }));
      origins.push(new HttpOrigin(opts.originUrl ? { baseUrl: opts.originUrl } : {}));
      origins.push(
        new RegistryOrigin({
          endpoints: opts.registryEndpoint,
          ...(opts.credentials ? { credentials: fileCredentialsProvider(opts.credentials) } : {}),
        }),
      );
      const tracker = new Tracker({
        host: opts.listen.host,
        port: opts.listen.port,
        peerPort: opts.peerPort,
        advertiseHost: opts.advertiseHost,
        storeDir: opts.store,
        storeCapacity: opts.storeCapacity,
        origins,
        announceIntervalSeconds: Math.max(1, Math.round(opts.announceInterval / 1000)),
        fetchConcurrency: opts.fetchConcurrency,
        originRate: opts.originRate,
        uploadRate: opts.uploadRate,
        logger,
      });
      await runUntilSignal(tracker, logger);
    });
}
