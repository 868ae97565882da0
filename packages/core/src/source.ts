/**
 * Where a blob may be fetched from when no node has it yet. The digest stays the blob's
 * identity; a source is only a hint the seeder uses to reach the origin, so the same digest
 * asked for through two sources is still one swarm.
 */
export type BlobSource =
  /** An HTTP(S) URL of the blob itself (presigned URLs included). */
  | { kind: 'url'; url: string }
  /** A repository of an OCI registry: GET /v2/<repository>/blobs/<digest>. */
  | { kind: 'registry'; registry: string; repository: string }
  /** An object in an S3-compatible bucket; without a key, the configured key template. */
  | { kind: 's3'; bucket?: string; key?: string };

/** Encodes a source for a query parameter. */
export function encodeSource(source: BlobSource): string {
  return Buffer.from(JSON.stringify(source)).toString('base64url');
}

/** Decodes a source from a query parameter; throws on anything malformed. */
export function decodeSource(encoded: string): BlobSource {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
  } catch {
    throw new TypeError('source is not base64url JSON');
  }
  if (typeof value !== 'object' || value === null) throw new TypeError('source is not an object');
  const v = value as Record<string, unknown>;
  switch (v.kind) {
    case 'url':
      if (typeof v.url !== 'string' || !/^https?:\/\//.test(v.url)) throw new TypeError('source.url must be http(s)');
      return { kind: 'url', url: v.url };
    case 'registry':
      if (typeof v.registry !== 'string' || typeof v.repository !== 'string') {
        throw new TypeError('registry source needs registry and repository');
      }
      return { kind: 'registry', registry: v.registry, repository: v.repository };
    case 's3': {
      const source: BlobSource = { kind: 's3' };
      if (typeof v.bucket === 'string') source.bucket = v.bucket;
      if (typeof v.key === 'string') source.key = v.key;
      return source;
    }
    default:
      throw new TypeError(`unknown source kind ${JSON.stringify(v.kind)}`);
  }
}
