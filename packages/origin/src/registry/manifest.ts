import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { type Digest, ErrorCode, ShoalError, isDigest } from '@shoal/core';
import { MAX_MANIFEST_BYTES } from '../constants.ts';
import { dump, readLimited } from '../http-client.ts';
import { headerValue, statusError } from '../http-errors.ts';
import { RegistryClient } from './registry-client.ts';
import { checkReference } from './names.ts';

/** Manifest media types Shoal reads. */
export const ManifestMediaType = {
  OCI_INDEX: 'application/vnd.oci.image.index.v1+json',
  OCI_MANIFEST: 'application/vnd.oci.image.manifest.v1+json',
  DOCKER_LIST: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DOCKER_MANIFEST: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

/** The Accept header for any image manifest or index: what containerd sends, without schema 1. */
export const MANIFEST_ACCEPT = [
  ManifestMediaType.OCI_INDEX,
  ManifestMediaType.OCI_MANIFEST,
  ManifestMediaType.DOCKER_LIST,
  ManifestMediaType.DOCKER_MANIFEST,
].join(', ');

const INDEX_TYPES: ReadonlySet<string> = new Set([ManifestMediaType.OCI_INDEX, ManifestMediaType.DOCKER_LIST]);

/** Options of {@link fetchManifest}. */
export interface FetchManifestOptions {
  /** Accept header (default {@link MANIFEST_ACCEPT}). */
  accept?: string;
  /** Forward this Authorization as-is instead of running the auth flow; a 401 is then returned, not thrown. */
  authorization?: string;
  /** GET (default) or HEAD (the mirror answers containerd's HEAD with one). */
  method?: 'GET' | 'HEAD';
  /** The client with endpoints, credentials and token cache (default: a shared anonymous HTTPS client). */
  client?: RegistryClient;
  signal?: AbortSignal;
}

/** A registry's answer to a manifest request. */
export interface ManifestResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body (empty for HEAD), up to 4 MiB. */
  body: Buffer;
  /** Content-Type, or the body's `mediaType` field; undefined unless status is 200. */
  mediaType: string | undefined;
  /**
   * The manifest's digest: the sha256 of the body for a GET (checked against the reference
   * when that is a digest), the Docker-Content-Digest header for a HEAD; undefined unless 200.
   */
  digest: Digest | undefined;
}

let defaultClient: RegistryClient | undefined;

/**
 * Fetches a manifest by tag or digest: `GET|HEAD /v2/<repository>/manifests/<reference>`
 * with Accept headers for OCI indexes and manifests and Docker manifest lists and v2
 * manifests. Answers of any status are returned (the agent's mirror passes 404s and 401s on
 * to containerd); network failures throw ORIGIN_UNAVAILABLE, and a body that does not hash to
 * the digest it was asked by throws DIGEST_MISMATCH (never hand out wrong bytes).
 */
export async function fetchManifest(
  registry: string,
  repository: string,
  reference: string,
  options: FetchManifestOptions = {},
): Promise<ManifestResponse> {
  checkReference(reference);
  const client = options.client ?? (defaultClient ??= new RegistryClient());
  const method = options.method ?? 'GET';
  const what = `manifest ${registry}/${repository}:${reference}`;
  const response = await client.request(registry, repository, `manifests/${reference}`, {
    method,
    headers: { accept: options.accept ?? MANIFEST_ACCEPT },
    signal: options.signal,
    what,
    ...(options.authorization !== undefined ? { authorization: options.authorization } : {}),
  });
  const body = method === 'HEAD' ? (await dump(response.body), Buffer.alloc(0)) : await readLimited(response, what, MAX_MANIFEST_BYTES);
  const result: ManifestResponse = { status: response.statusCode, headers: response.headers, body, mediaType: undefined, digest: undefined };
  if (response.statusCode !== 200) return result;
  const contentType = headerValue(response.headers, 'content-type')?.split(';')[0]?.trim();
  if (method === 'HEAD') {
    const header = headerValue(response.headers, 'docker-content-digest');
    result.digest = isDigest(header) ? header : isDigest(reference) ? (reference as Digest) : undefined;
    result.mediaType = contentType;
    return result;
  }
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}` as Digest;
  if (isDigest(reference) && digest !== reference) {
    throw new ShoalError(ErrorCode.DIGEST_MISMATCH, `${what}: the registry served a manifest whose digest is ${digest}`, {
      details: { expected: reference, actual: digest },
    });
  }
  result.digest = digest;
  result.mediaType = contentType && contentType !== 'application/json' ? contentType : mediaTypeOfBody(body) ?? contentType;
  return result;
}

function mediaTypeOfBody(body: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { mediaType?: unknown };
    return typeof parsed.mediaType === 'string' ? parsed.mediaType : undefined;
  } catch {
    return undefined;
  }
}

/** An OS/architecture pair (and variant) as in an image index. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** One blob of an image: a config or a layer. */
export interface ImageBlob {
  digest: Digest;
  size: number;
  mediaType: string;
}

/** A manifest met while walking an image. */
export interface ImageManifestRef {
  digest: Digest;
  mediaType: string;
  platform?: Platform;
}

/** Everything {@link listImageBlobs} found. */
export interface ImageBlobList {
  /** The digest of the manifest or index the reference named. */
  digest: Digest;
  mediaType: string;
  /** Every manifest read (the top one first). */
  manifests: ImageManifestRef[];
  /** Configs and layers, each digest once, in manifest order. */
  blobs: ImageBlob[];
}

/** Options of {@link listImageBlobs}. */
export interface ListImageBlobsOptions {
  client?: RegistryClient;
  /** Only this platform's manifest of an index (`linux/amd64`, `linux/arm64/v8`, or an object). Default: all. */
  platform?: Platform | string;
  signal?: AbortSignal;
}

/** Parses `os/architecture[/variant]`. */
export function parsePlatform(value: string): Platform {
  const [os, architecture, variant, extra] = value.split('/');
  if (!os || !architecture || extra !== undefined) {
    throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `invalid platform ${JSON.stringify(value)}: expected os/architecture[/variant]`);
  }
  return variant ? { os, architecture, variant } : { os, architecture };
}

function platformMatches(want: Platform, have: Platform | undefined): boolean {
  if (!have || have.os !== want.os || have.architecture !== want.architecture) return false;
  return want.variant === undefined || want.variant === have.variant;
}

interface Descriptor {
  mediaType?: unknown;
  digest?: unknown;
  size?: unknown;
  urls?: unknown;
  platform?: { os?: unknown; architecture?: unknown; variant?: unknown };
}

function descriptor(value: unknown, where: string): { digest: Digest; size: number; mediaType: string; raw: Descriptor } {
  const d = (value ?? {}) as Descriptor;
  if (typeof d.digest !== 'string' || !isDigest(d.digest)) {
    throw new ShoalError(ErrorCode.INVALID_DIGEST, `${where}: descriptor digest ${JSON.stringify(String(d.digest).slice(0, 80))} is not a sha256 digest`);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `${where}: descriptor ${d.digest} has an invalid size`);
  }
  return { digest: d.digest, size: d.size, mediaType: typeof d.mediaType === 'string' ? d.mediaType : '', raw: d };
}

/**
 * Lists every blob of an image (configs and layers) for preheating: resolves the reference,
 * walks an index into each platform's manifest (or only `platform`'s), recursing through
 * nested indexes. Foreign layers (descriptors with `urls`, never stored in the registry) are
 * left out. Throws BLOB_UNKNOWN when the image or the platform is not found.
 */
export async function listImageBlobs(
  registry: string,
  repository: string,
  reference: string,
  options: ListImageBlobsOptions = {},
): Promise<ImageBlobList> {
  const platform = typeof options.platform === 'string' ? parsePlatform(options.platform) : options.platform;
  const client = options.client ?? (defaultClient ??= new RegistryClient());
  const manifests: ImageManifestRef[] = [];
  const blobs = new Map<string, ImageBlob>();
  const seen = new Set<string>();

  const visit = async (ref: string, depth: number, platformOf?: Platform): Promise<{ digest: Digest; mediaType: string }> => {
    const what = `manifest ${registry}/${repository}:${ref}`;
    const res = await fetchManifest(registry, repository, ref, { client, signal: options.signal });
    if (res.status !== 200) throw statusError(res.status, what, `${client.endpoint(registry)}/v2/${repository}/manifests/${ref}`, res.headers);
    const digest = res.digest!;
    const mediaType = res.mediaType ?? '';
    if (seen.has(digest)) return { digest, mediaType };
    seen.add(digest);
    manifests.push({ digest, mediaType, ...(platformOf ? { platform: platformOf } : {}) });
    let doc: { manifests?: unknown; config?: unknown; layers?: unknown; mediaType?: unknown };
    try {
      doc = JSON.parse(res.body.toString('utf8'));
    } catch {
      throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `${what}: not JSON`);
    }
    if (INDEX_TYPES.has(mediaType) || Array.isArray(doc.manifests)) {
      if (depth >= 4) throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `${what}: indexes nested too deep`);
      const entries = (Array.isArray(doc.manifests) ? doc.manifests : []).map((m) => descriptor(m, what));
      const chosen = platform
        ? entries.filter((e) => platformMatches(platform, e.raw.platform as Platform | undefined))
        : entries;
      if (platform && chosen.length === 0) {
        throw new ShoalError(ErrorCode.BLOB_UNKNOWN, `${what}: no manifest for platform ${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`);
      }
      for (const entry of platform ? chosen.slice(0, 1) : chosen) {
        const p = entry.raw.platform;
        const entryPlatform =
          p && typeof p.os === 'string' && typeof p.architecture === 'string'
            ? { os: p.os, architecture: p.architecture, ...(typeof p.variant === 'string' ? { variant: p.variant } : {}) }
            : undefined;
        await visit(entry.digest, depth + 1, entryPlatform);
      }
      return { digest, mediaType };
    }
    const parts = [
      ...(doc.config !== undefined ? [descriptor(doc.config, what)] : []),
      ...(Array.isArray(doc.layers) ? doc.layers.map((l) => descriptor(l, what)) : []),
    ];
    for (const part of parts) {
      if (Array.isArray(part.raw.urls) && part.raw.urls.length > 0) continue;
      if (!blobs.has(part.digest)) blobs.set(part.digest, { digest: part.digest, size: part.size, mediaType: part.mediaType });
    }
    return { digest, mediaType };
  };

  const top = await visit(checkReference(reference), 0);
  return { digest: top.digest, mediaType: top.mediaType, manifests, blobs: [...blobs.values()] };
}
