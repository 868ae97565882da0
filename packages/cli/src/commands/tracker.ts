import { Command } from 'commander';
import { Tracker } from '@shoal/tracker';
import { daemonLogger } from '../logging.ts';
import { collectEndpoint, option, parseBytes, parseDuration, parseFraction, parseListen, parsePort, splitList } from '../options.ts';
import { runUntilSignal } from '../run.ts';
import { buildTrackerOrigins } from '../tracker-origins.ts';

export function trackerCommand(): Command {
  return new Command('tracker')
    .description('run the tracker: announce server, metainfo service and seeder (one replica)')
    .addOption(option('--listen <host:port>', 'HTTP address (announce, metainfo, metrics)').default('0.0.0.0:7000').argParser(parseListen))
    .addOption(option('--peer-port <port>', 'peer wire port of the seeder').default(6881).argParser(parsePort))
    .addOption(option('--advertise-host <host>', 'address agents dial to reach the seeder (the pod IP)').default('127.0.0.1'))
    .addOption(option('--store <dir>', 'seeder store directory').default('/var/lib/shoal-tracker'))
    .addOption(option('--store-capacity <bytes>', 'bytes the store may use, 0 for no bound (e.g. 500Gi)').default(0).argParser(parseBytes))
    .addOption(option('--store-high-watermark <fraction>', 'fraction of the capacity at which idle blobs are evicted').default(0.9).argParser(parseFraction))
    .addOption(option('--store-low-watermark <fraction>', 'fraction of the capacity eviction frees down to').default(0.8).argParser(parseFraction))
    .addOption(option('--seed-idle <duration>', 'a blob with no peers for this long stops seeding (and may then be evicted)').default(600_000).argParser(parseDuration))
    .addOption(option('--replicas <urls>', 'every tracker replica, comma-separated: base URLs, or dns+http://<headless service>:<port> (preheat warms each blob at its owner)').default(''))
    .addOption(option('--replicas-dns <name>', 'the headless Service of the replicas: --replicas dns+http://<name>:<this HTTP port>'))
    .addOption(option('--origin-dir <dir>', 'serve blobs from a directory (an OCI layout or files named by digest)'))
    .addOption(option('--s3-bucket <name>', 'serve blobs from an S3 bucket (and s3 sources)'))
    .addOption(option('--s3-endpoint <url>', "S3 API endpoint, e.g. http://minio:9000 (default: AWS's for the region)"))
    .addOption(option('--s3-region <region>', 'S3 region, for signing').default('us-east-1'))
    .addOption(option('--s3-key-template <template>', 'object key of a blob: {hex}, {hex2}, {digest} (default: the registry layout docker/registry/v2/blobs/sha256/{hex2}/{hex}/data)'))
    .addOption(option('--s3-addressing <style>', 'path (endpoint/bucket/key) or virtual (bucket.endpoint/key); default virtual on amazonaws.com, else path').choices(['path', 'virtual']))
    .addOption(option('--s3-access-key-id <id>', 'S3 access key id (prefer the environment twin)'))
    .addOption(option('--s3-secret-access-key <key>', 'S3 secret access key (prefer the environment twin: flags show in ps)'))
    .addOption(option('--s3-session-token <token>', 'S3 session token, for temporary credentials'))
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
      const { origins, registry } = buildTrackerOrigins(opts);
      const tracker = new Tracker({
        host: opts.listen.host,
        port: opts.listen.port,
        peerPort: opts.peerPort,
        advertiseHost: opts.advertiseHost,
        storeDir: opts.store,
        storeCapacity: opts.storeCapacity,
        storeHighWatermark: opts.storeHighWatermark,
        storeLowWatermark: opts.storeLowWatermark,
        seedIdleMs: opts.seedIdle,
        origins,
        registry,
        replicas: [
          ...splitList(opts.replicas),
          ...(opts.replicasDns ? [`dns+http://${opts.replicasDns}:${opts.listen.port}`] : []),
        ],
        announceIntervalSeconds: Math.max(1, Math.round(opts.announceInterval / 1000)),
        fetchConcurrency: opts.fetchConcurrency,
        originRate: opts.originRate,
        uploadRate: opts.uploadRate,
        logger,
      });
      await runUntilSignal(tracker, logger);
    });
}
