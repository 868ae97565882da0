import { type BlobSource, type Digest, ErrorCode, ShoalError, digestHex, parseDigest, shortDigest } from '@shoal/core';
import { type HttpTransportOptions, httpRequest } from './http-client.ts';
import { redactUrl } from './http-errors.ts';
import type { ByteRange, Origin, OriginBlobInfo } from './origin.ts';
import { emptyBody, probeBlobSize, rangeBody, rangeHeader } from './ranges.ts';

/** Options of an {@link HttpOrigin}. */
export interface HttpOriginOptions extends HttpTransportOptions {
  /**
   * Where blobs with no source live: either a base URL (the blob is at `<base>/<digest>`) or
   * a template with `{digest}`, `{hex}` or `{hex2}` (first two hex digits), e.g.
   * `https://cdn.example.com/blobs/{hex2}/{hex}`. Without it, only `url` sources are served.
   */
  baseUrl?: string;
  /**
   * Headers sent with requests to `baseUrl` only (an API key for your artifact server, say).
   * Never sent to URLs named by a source: those come from clients and may point anywhere.
   */
  baseHeaders?: Record<string, string>;
  /**
   * Which source URLs may be fetched (the seeder fetches URLs that agents name, so a
   * deployment may restrict them to its buckets and CDNs). Default: any http(s) URL.
   */
  allowUrl?: (url: URL) => boolean;
  /** Bytes we read and discard to reach a range's start when a server ignores Range. */
  maxSkipBytes?: number;
}

/**
 * Blobs at plain HTTP(S) URLs: `source.kind === 'url'` (presigned URLs included) and, when
 * configured, a base URL for requests with no source.
 *
 * A URL is only a way to reach a blob; the blob's identity is its digest. A presigned URL's
 * query string (a signature with an expiry) is therefore kept out of logs and error
 * messages, and two URLs for one digest are one blob to the rest of Shoal.
 *
 * Sizes come from HEAD, or from a `Range: bytes=0-0` GET when HEAD is refused (presigned
 * URLs are usually signed for GET only). Reads are ranged GETs; a server that ignores Range
 * is handled (see {@link rangeBody}).
 */
export class HttpOrigin implements Origin {
  readonly kind = 'http';
  readonly #options: HttpOriginOptions;
  readonly #template: string | undefined;

  constructor(options: HttpOriginOptions = {}) {
    this.#options = { ...options };
    if (options.baseUrl !== undefined) {
      const template = /\{(digest|hex|hex2)\}/.test(options.baseUrl)
        ? options.baseUrl
        : `${options.baseUrl.replace(/\/+$/, '')}/{digest}`;
      let probe: URL;
      try {
        probe = new URL(template.replaceAll('{digest}', 'sha256:0').replaceAll('{hex2}', '00').replaceAll('{hex}', '0'));
      } catch {
        throw new ShoalError(ErrorCode.INVALID_CONFIG, `HttpOrigin baseUrl ${redactUrl(options.baseUrl)} is not a URL`);
      }
      if (probe.protocol !== 'http:' && probe.protocol !== 'https:') {
        throw new ShoalError(ErrorCode.INVALID_CONFIG, `HttpOrigin baseUrl must be http(s), got ${probe.protocol}`);
      }
      this.#template = template;
    }
  }

  accepts(source: BlobSource | undefined): boolean {
    if (source === undefined) return this.#template !== undefined;
    return source.kind === 'url';
  }

  /** The URL and headers for a blob: the source's URL, or the base URL's. */
  #target(digest: Digest, source: BlobSource | undefined): { url: URL; headers: Record<string, string> } {
    if (source === undefined) {
      if (this.#template === undefined) {
        throw new ShoalError(ErrorCode.INVALID_CONFIG, 'HttpOrigin has no baseUrl, so it needs a url source');
      }
      const hex = digestHex(parseDigest(digest));
      const url = this.#template.replaceAll('{digest}', digest).replaceAll('{hex2}', hex.slice(0, 2)).replaceAll('{hex}', hex);
      return { url: new URL(url), headers: { ...(this.#options.baseHeaders ?? {}) } };
    }
    if (source.kind !== 'url') {
      throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `HttpOrigin cannot serve a ${source.kind} source`);
    }
    let url: URL;
    try {
      url = new URL(source.url);
    } catch {
      throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `blob ${shortDigest(digest)}: source URL is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `blob ${shortDigest(digest)}: source URL must be http(s)`);
    }
    if (this.#options.allowUrl && !this.#options.allowUrl(url)) {
      throw new ShoalError(ErrorCode.ORIGIN_UNAUTHORIZED, `blob ${shortDigest(digest)}: ${redactUrl(url)} is not an allowed origin`);
    }
    return { url, headers: {} };
  }

  async stat(digest: Digest, source: BlobSource | undefined, signal?: AbortSignal): Promise<OriginBlobInfo> {
    const { url, headers } = this.#target(digest, source);
    const what = `blob ${shortDigest(digest)} from http origin`;
    return probeBlobSize(
      (method, extra) => httpRequest(url, { ...this.#transport(), method, headers: { ...headers, ...extra }, signal, what }),
      what,
    );
  }

  async read(
    digest: Digest,
    source: BlobSource | undefined,
    range: ByteRange,
    signal?: AbortSignal,
  ): Promise<AsyncIterable<Uint8Array>> {
    if (range.end <= range.start) return emptyBody();
    const { url, headers } = this.#target(digest, source);
    const what = `blob ${shortDigest(digest)} from http origin`;
    const response = await httpRequest(url, {
      ...this.#transport(),
      headers: { ...headers, range: rangeHeader(range) },
      signal,
      what,
    });
    return rangeBody(response, range, { what, signal, maxSkipBytes: this.#options.maxSkipBytes });
  }

  #transport(): HttpTransportOptions {
    const { dispatcher, headersTimeout, bodyTimeout, maxRedirects } = this.#options;
    return { dispatcher, headersTimeout, bodyTimeout, maxRedirects };
  }
}
