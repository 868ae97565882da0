import { type BlobSource, type Digest, ErrorCode, ShoalError, digestHex, parseDigest, shortDigest } from '@shoal/core';
import { type HttpResponse, type HttpTransportOptions, dump, httpRequest } from './http-client.ts';
import { headerValue, redactUrl, statusError } from './http-errors.ts';
import type { ByteRange, Origin, OriginBlobInfo } from './origin.ts';
import { emptyBody, rangeBody, rangeHeader } from './ranges.ts';
import { type S3Credentials, signSigV4 } from './s3-signer.ts';

/** The distribution (registry) storage layout, so a registry's S3 bucket can serve as an origin directly. */
export const DEFAULT_S3_KEY_TEMPLATE = 'docker/registry/v2/blobs/sha256/{hex2}/{hex}/data';

/** Options of an {@link S3Origin}. */
export interface S3OriginOptions extends HttpTransportOptions {
  /** The bucket blobs are in by default. */
  bucket: string;
  /** Region for signing (default us-east-1). */
  region?: string;
  /** Endpoint URL, e.g. `https://s3.eu-west-1.amazonaws.com` or `http://127.0.0.1:4569` (default: AWS's for the region). */
  endpoint?: string;
  /**
   * `path` (`<endpoint>/<bucket>/<key>`: MinIO, Ceph, s3rver) or `virtual`
   * (`<bucket>.<endpoint host>/<key>`: AWS). Default: virtual for amazonaws.com endpoints, path otherwise.
   */
  addressing?: 'path' | 'virtual';
  /** Signing credentials; without them requests go unsigned (public buckets). */
  credentials?: S3Credentials;
  /** Key of a blob: `{hex}`, `{hex2}` (first two hex digits), `{digest}`. Default {@link DEFAULT_S3_KEY_TEMPLATE}. */
  keyTemplate?: string;
  /**
   * Buckets other than `bucket` that a source may name. Sources come from clients, and our
   * credentials may read more than blobs; default: none.
   */
  allowedBuckets?: string[];
  /** Bytes read and discarded to reach a range's start when a server ignores Range. */
  maxSkipBytes?: number;
  /** Clock for signing, for tests. */
  now?: () => Date;
}

const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** URI-encodes an S3 key for the path, segment by segment (RFC 3986 unreserved characters stay). */
export function encodeS3Key(key: string): string {
  return key
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
}

/**
 * Blobs in an S3-compatible bucket, read with ranged GETs signed with SigV4 (via `aws4`).
 * Serves requests with no source (the configured bucket and key template) and
 * `source.kind === 's3'` (a key, and a bucket when allowed). Redirects are not followed: a
 * signature is valid for one URL, and S3 redirects only to say "wrong region", which is a
 * configuration error reported as such.
 */
export class S3Origin implements Origin {
  readonly kind = 's3';
  readonly #options: S3OriginOptions;
  readonly #endpoint: URL;
  readonly #addressing: 'path' | 'virtual';
  readonly #region: string;
  readonly #template: string;
  readonly #buckets: Set<string>;

  constructor(options: S3OriginOptions) {
    if (!options || typeof options.bucket !== 'string' || !BUCKET_RE.test(options.bucket)) {
      throw new ShoalError(ErrorCode.INVALID_CONFIG, `S3Origin needs a valid bucket name, got ${JSON.stringify(options?.bucket)}`);
    }
    this.#options = { ...options };
    this.#region = options.region ?? 'us-east-1';
    const endpoint = options.endpoint ?? `https://s3.${this.#region}.amazonaws.com`;
    try {
      this.#endpoint = new URL(endpoint);
    } catch {
      throw new ShoalError(ErrorCode.INVALID_CONFIG, `S3Origin endpoint ${redactUrl(endpoint)} is not a URL`);
    }
    if (this.#endpoint.protocol !== 'http:' && this.#endpoint.protocol !== 'https:') {
      throw new ShoalError(ErrorCode.INVALID_CONFIG, 'S3Origin endpoint must be http(s)');
    }
    this.#addressing = options.addressing ?? (this.#endpoint.hostname.endsWith('.amazonaws.com') ? 'virtual' : 'path');
    this.#template = options.keyTemplate ?? DEFAULT_S3_KEY_TEMPLATE;
    if (!/\{(hex|hex2|digest)\}/.test(this.#template)) {
      throw new ShoalError(ErrorCode.INVALID_CONFIG, `S3Origin keyTemplate must contain {hex} or {digest}: ${this.#template}`);
    }
    this.#buckets = new Set([options.bucket, ...(options.allowedBuckets ?? [])]);
    const creds = options.credentials;
    if (creds && (!creds.accessKeyId || !creds.secretAccessKey)) {
      throw new ShoalError(ErrorCode.INVALID_CONFIG, 'S3Origin credentials need accessKeyId and secretAccessKey');
    }
  }

  accepts(source: BlobSource | undefined): boolean {
    return source === undefined || source.kind === 's3';
  }

  /** The object key of a blob under the key template. */
  keyOf(digest: Digest): string {
    const hex = digestHex(parseDigest(digest));
    return this.#template.replaceAll('{digest}', digest).replaceAll('{hex2}', hex.slice(0, 2)).replaceAll('{hex}', hex);
  }

  /** The URL of an object (path-style or virtual-hosted). */
  objectUrl(bucket: string, key: string): URL {
    const url = new URL(this.#endpoint.href);
    const base = url.pathname.replace(/\/+$/, '');
    if (this.#addressing === 'virtual') {
      url.hostname = `${bucket}.${url.hostname}`;
      url.pathname = `${base}/${encodeS3Key(key)}`;
    } else {
      url.pathname = `${base}/${bucket}/${encodeS3Key(key)}`;
    }
    return url;
  }

  #locate(digest: Digest, source: BlobSource | undefined): URL {
    if (source !== undefined && source.kind !== 's3') {
      throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `S3Origin cannot serve a ${source.kind} source`);
    }
    const bucket = source?.bucket ?? this.#options.bucket;
    if (!this.#buckets.has(bucket)) {
      throw new ShoalError(ErrorCode.ORIGIN_UNAUTHORIZED, `blob ${shortDigest(digest)}: bucket ${JSON.stringify(bucket.slice(0, 64))} is not allowed`);
    }
    const key = source?.key ?? this.keyOf(digest);
    if (key === '' || key.length > 1024) throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `blob ${shortDigest(digest)}: invalid S3 key`);
    return this.objectUrl(bucket, key);
  }

  /** Builds and signs a request; exported shape is checked by tests. */
  signedHeaders(method: 'GET' | 'HEAD', url: URL, headers: Record<string, string> = {}): Record<string, string> {
    const credentials = this.#options.credentials;
    if (!credentials) return { ...headers };
    return signSigV4({ method, url, headers, region: this.#region, date: this.#options.now?.() ?? new Date() }, credentials);
  }

  async #send(method: 'GET' | 'HEAD', url: URL, headers: Record<string, string>, signal: AbortSignal | undefined, what: string): Promise<HttpResponse> {
    const { dispatcher, headersTimeout, bodyTimeout } = this.#options;
    const response = await httpRequest(url, {
      dispatcher,
      headersTimeout,
      bodyTimeout,
      maxRedirects: 0,
      method,
      // Signed per request (and per retry): SigV4 signatures are only valid for ~15 minutes.
      headers: this.signedHeaders(method, url, headers),
      signal,
      what,
    });
    if (response.statusCode === 301 || response.statusCode === 307) {
      await dump(response.body);
      const region = headerValue(response.headers, 'x-amz-bucket-region');
      throw new ShoalError(
        ErrorCode.INVALID_CONFIG,
        `${what}: S3 redirected (HTTP ${response.statusCode}): the bucket ${region ? `is in region ${region}` : 'is elsewhere'}; configure its region/endpoint`,
      );
    }
    return response;
  }

  async stat(digest: Digest, source: BlobSource | undefined, signal?: AbortSignal): Promise<OriginBlobInfo> {
    const url = this.#locate(digest, source);
    const what = `blob ${shortDigest(digest)} from s3 origin`;
    const response = await this.#send('HEAD', url, {}, signal, what);
    await dump(response.body);
    if (response.statusCode === 200) {
      const length = Number(headerValue(response.headers, 'content-length'));
      if (Number.isSafeInteger(length) && length >= 0) return { size: length, acceptsRanges: true };
      throw new ShoalError(ErrorCode.ORIGIN_UNAVAILABLE, `${what}: HEAD gave no Content-Length`, { details: { retryable: false } });
    }
    if (response.statusCode === 403) {
      // S3 answers 403 for a missing object when the credentials may not list the bucket.
      throw new ShoalError(
        ErrorCode.ORIGIN_UNAUTHORIZED,
        `${what}: ${redactUrl(url)} refused access (HTTP 403; also what S3 answers for a missing object when the credentials lack s3:ListBucket)`,
        { details: { status: 403 } },
      );
    }
    throw statusError(response.statusCode, what, url, response.headers);
  }

  async read(
    digest: Digest,
    source: BlobSource | undefined,
    range: ByteRange,
    signal?: AbortSignal,
  ): Promise<AsyncIterable<Uint8Array>> {
    const url = this.#locate(digest, source);
    if (range.end <= range.start) return emptyBody();
    const what = `blob ${shortDigest(digest)} from s3 origin`;
    const response = await this.#send('GET', url, { range: rangeHeader(range) }, signal, what);
    return rangeBody(response, range, { what, signal, maxSkipBytes: this.#options.maxSkipBytes });
  }
}
