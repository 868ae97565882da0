import { type BlobSource, type Digest, badRequest, isDigest } from '@shoal/core';
import { type ImageReference, type Platform, parseImageReference, parsePlatform } from '@shoal/origin';

/** One blob to warm: its digest, and where to fetch it when the configured origins do not have it. */
export interface PreheatBlobSpec {
  digest: Digest;
  source?: BlobSource;
}

/** What `POST /v1/preheat` asks for, validated. */
export interface PreheatRequest {
  /** An image: its config and layers, for every platform of an index or only `platform`. */
  image?: ImageReference;
  platform?: Platform;
  blobs: PreheatBlobSpec[];
}

/** Blobs one request may name (an image lists its own). */
const MAX_BLOBS = 10_000;

/**
 * Validates the body of `POST /v1/preheat`:
 *
 * ```json
 * { "image": "registry.example.com/team/app:1.4", "platform": "linux/amd64" }
 * { "blobs": ["sha256:<hex>", { "digest": "sha256:<hex>", "url": "https://bucket.example/model?X-Amz-..." }] }
 * ```
 *
 * `image` and `blobs` may come together. Throws INVALID_ARGUMENT (400) saying what is wrong.
 */
export function parsePreheatRequest(body: unknown): PreheatRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('the preheat request must be a JSON object with "image" or "blobs"');
  }
  const value = body as Record<string, unknown>;
  for (const key of Object.keys(value)) {
    if (key !== 'image' && key !== 'platform' && key !== 'blobs') throw badRequest(`unknown field ${JSON.stringify(key.slice(0, 50))} in the preheat request`);
  }
  const request: PreheatRequest = { blobs: [] };
  if (value.image !== undefined) {
    if (typeof value.image !== 'string') throw badRequest('"image" must be an image reference, e.g. "registry.example.com/team/app:1.4"');
    request.image = parseImageReference(value.image);
  }
  if (value.platform !== undefined) {
    if (typeof value.platform !== 'string') throw badRequest('"platform" must be os/architecture[/variant], e.g. "linux/amd64"');
    if (request.image === undefined) throw badRequest('"platform" applies to an "image" only');
    request.platform = parsePlatform(value.platform);
  }
  if (value.blobs !== undefined) {
    if (!Array.isArray(value.blobs)) throw badRequest('"blobs" must be a list of digests or { "digest", "url" } objects');
    if (value.blobs.length > MAX_BLOBS) throw badRequest(`"blobs" may list at most ${MAX_BLOBS} blobs`);
    const seen = new Set<string>();
    for (const [i, entry] of value.blobs.entries()) {
      const spec = parseBlob(entry, i);
      if (!seen.has(spec.digest)) request.blobs.push(spec);
      seen.add(spec.digest);
    }
  }
  if (request.image === undefined && request.blobs.length === 0) {
    throw badRequest('the preheat request names nothing: give "image" or "blobs"');
  }
  return request;
}

function parseBlob(entry: unknown, i: number): PreheatBlobSpec {
  const where = `blobs[${i}]`;
  if (typeof entry === 'string') {
    if (!isDigest(entry)) throw badRequest(`${where} is not a sha256 digest`);
    return { digest: entry };
  }
  if (typeof entry !== 'object' || entry === null) throw badRequest(`${where} must be a digest or { "digest", "url" }`);
  const { digest, url, ...other } = entry as Record<string, unknown>;
  if (Object.keys(other).length > 0) throw badRequest(`${where} has unknown fields (expected "digest" and "url")`);
  if (typeof digest !== 'string' || !isDigest(digest)) throw badRequest(`${where}.digest is not a sha256 digest`);
  if (url === undefined) return { digest };
  if (typeof url !== 'string' || !/^https?:\/\//.test(url)) throw badRequest(`${where}.url must be an http(s) URL`);
  return { digest, source: { kind: 'url', url } };
}
