import { ErrorCode, ShoalError } from '@shoal/core';
import {
  DirectoryOrigin,
  HttpOrigin,
  type Origin,
  type RegistryClient,
  RegistryOrigin,
  type S3Credentials,
  S3Origin,
  fileCredentialsProvider,
} from '@shoal/origin';

/** The tracker's origin flags, as parsed (environment twins included). */
export interface TrackerOriginFlags {
  originDir?: string;
  originUrl?: string;
  s3Bucket?: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3KeyTemplate?: string;
  s3Addressing?: 'path' | 'virtual';
  s3AccessKeyId?: string;
  s3SecretAccessKey?: string;
  s3SessionToken?: string;
  registryEndpoint?: Record<string, string>;
  credentials?: string;
}

/** The seeder's origins, and the registry client that preheat shares with the registry origin. */
export interface TrackerOrigins {
  origins: Origin[];
  registry: RegistryClient;
}

/**
 * Builds the seeder's origins from the command line, in the order the seeder tries them for
 * a blob (the first that accepts the blob's source and has it wins):
 *
 * 1. `--origin-dir`: a directory (blobs with no source);
 * 2. `--s3-bucket`: an S3 bucket (blobs with no source, under the key template; `s3` sources);
 * 3. HTTP: `url` sources (presigned URLs too), and blobs with no source at `--origin-url`;
 * 4. registries: `registry` sources (the registry mirror, preheated images), with
 *    `--registry-endpoint` and `--credentials`.
 *
 * S3 credentials come from flags or, better, their environment twins
 * (SHOAL_S3_ACCESS_KEY_ID, SHOAL_S3_SECRET_ACCESS_KEY, SHOAL_S3_SESSION_TOKEN): flags are
 * visible to every process on the node. Without them requests go unsigned (public buckets).
 */
export function buildTrackerOrigins(flags: TrackerOriginFlags): TrackerOrigins {
  const origins: Origin[] = [];
  if (flags.originDir) origins.push(new DirectoryOrigin({ root: flags.originDir }));
  const s3 = s3Origin(flags);
  if (s3) origins.push(s3);
  origins.push(new HttpOrigin(flags.originUrl ? { baseUrl: flags.originUrl } : {}));
  const registry = new RegistryOrigin({
    endpoints: flags.registryEndpoint ?? {},
    ...(flags.credentials ? { credentials: fileCredentialsProvider(flags.credentials) } : {}),
  });
  origins.push(registry);
  return { origins, registry: registry.client };
}

function s3Origin(flags: TrackerOriginFlags): S3Origin | undefined {
  const others = (
    [
      ['--s3-endpoint', flags.s3Endpoint],
      ['--s3-key-template', flags.s3KeyTemplate],
      ['--s3-addressing', flags.s3Addressing],
      ['--s3-access-key-id', flags.s3AccessKeyId],
      ['--s3-secret-access-key', flags.s3SecretAccessKey],
    ] as const
  ).filter(([, value]) => value !== undefined);
  if (!flags.s3Bucket) {
    if (others.length > 0) throw new ShoalError(ErrorCode.INVALID_CONFIG, `${others[0]![0]} needs --s3-bucket`);
    return undefined;
  }
  if ((flags.s3AccessKeyId === undefined) !== (flags.s3SecretAccessKey === undefined)) {
    throw new ShoalError(ErrorCode.INVALID_CONFIG, 'S3 credentials need both --s3-access-key-id and --s3-secret-access-key (or SHOAL_S3_ACCESS_KEY_ID and SHOAL_S3_SECRET_ACCESS_KEY)');
  }
  const credentials: S3Credentials | undefined =
    flags.s3AccessKeyId !== undefined && flags.s3SecretAccessKey !== undefined
      ? {
          accessKeyId: flags.s3AccessKeyId,
          secretAccessKey: flags.s3SecretAccessKey,
          ...(flags.s3SessionToken ? { sessionToken: flags.s3SessionToken } : {}),
        }
      : undefined;
  return new S3Origin({
    bucket: flags.s3Bucket,
    ...(flags.s3Endpoint ? { endpoint: flags.s3Endpoint } : {}),
    ...(flags.s3Region ? { region: flags.s3Region } : {}),
    ...(flags.s3KeyTemplate ? { keyTemplate: flags.s3KeyTemplate } : {}),
    ...(flags.s3Addressing ? { addressing: flags.s3Addressing } : {}),
    ...(credentials ? { credentials } : {}),
  });
}
