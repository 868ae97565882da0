import { ErrorCode, MAX_BLOB_SIZE, ShoalError } from '@shoal/core';
import { DEFAULT_MAX_SKIP_BYTES } from './constants.ts';
import { type HttpResponse, discard, dump, receivedChunks } from './http-client.ts';
import { headerValue, networkError, redactUrl, statusError } from './http-errors.ts';
import type { ByteRange, OriginBlobInfo } from './origin.ts';

/** A parsed `Content-Range: bytes a-b/total` (or `bytes *\/total`); total undefined for `*`. */
export interface ContentRange {
  start: number | undefined;
  end: number | undefined;
  total: number | undefined;
}

/** Parses a Content-Range header; undefined when absent or malformed. */
export function parseContentRange(value: string | undefined): ContentRange | undefined {
  if (value === undefined) return undefined;
  const m = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(value.trim());
  if (!m) return undefined;
  const num = (s: string | undefined) => (s === undefined || s === '*' ? undefined : Number(s));
  return { start: num(m[1]), end: num(m[2]), total: num(m[3]) };
}

/** A body with no bytes (an empty range). */
export async function* emptyBody(): AsyncGenerator<Uint8Array> {}

/** The `Range` header value for [start, end). */
export function rangeHeader(range: ByteRange): string {
  return `bytes=${range.start}-${range.end - 1}`;
}

function checkedSize(value: number | undefined, what: string, where: URL): number {
  if (value === undefined || !Number.isSafeInteger(value) || value < 0 || value > MAX_BLOB_SIZE) {
    throw new ShoalError(ErrorCode.ORIGIN_UNAVAILABLE, `${what}: ${redactUrl(where)} gave no usable size`, {
      details: { retryable: false, size: value },
    });
  }
  return value;
}

/** Sends one request of a size probe; the origin adds its URL, auth and signing. */
export type ProbeSend = (method: 'GET' | 'HEAD', headers: Record<string, string>) => Promise<HttpResponse>;

/**
 * Learns a blob's size from an HTTP server: HEAD and Content-Length first; when HEAD is
 * refused (a presigned URL is signed for GET only and answers 403; some servers answer
 * 405/501) or gives no length, a `Range: bytes=0-0` GET and its Content-Range. Also reports
 * whether ranges work: a 200 to that GET means the server ignores Range.
 */
export async function probeBlobSize(send: ProbeSend, what: string): Promise<OriginBlobInfo> {
  const head = await send('HEAD', {});
  await dump(head.body);
  const status = head.statusCode;
  if (status === 200) {
    const length = headerValue(head.headers, 'content-length');
    if (length !== undefined && /^\d+$/.test(length)) {
      const acceptRanges = headerValue(head.headers, 'accept-ranges')?.toLowerCase();
      const info: OriginBlobInfo = { size: checkedSize(Number(length), what, head.url) };
      if (acceptRanges === 'bytes') info.acceptsRanges = true;
      else if (acceptRanges === 'none') info.acceptsRanges = false;
      return info;
    }
  } else if (status === 404 || status === 410 || status === 408 || status === 429 || status >= 500) {
    throw statusError(status, what, head.url, head.headers);
  }
  const get = await send('GET', { range: 'bytes=0-0' });
  // Never read a whole blob here: a server that ignores Range sends all of it.
  discard(get.body);
  if (get.statusCode === 206) {
    const range = parseContentRange(headerValue(get.headers, 'content-range'));
    return { size: checkedSize(range?.total, what, get.url), acceptsRanges: true };
  }
  if (get.statusCode === 200) {
    return { size: checkedSize(Number(headerValue(get.headers, 'content-length')), what, get.url), acceptsRanges: false };
  }
  if (get.statusCode === 416) {
    // The only blob for which bytes=0-0 is unsatisfiable is the empty one ("bytes */0").
    const range = parseContentRange(headerValue(get.headers, 'content-range'));
    if (range?.total === 0) return { size: 0, acceptsRanges: true };
  }
  throw statusError(get.statusCode, what, get.url, get.headers);
}

/** How to turn a response into the bytes of one range. */
export interface RangeBodyOptions {
  what: string;
  /** Bytes we accept to read and discard when the server ignored Range (answered 200). */
  maxSkipBytes?: number;
  signal?: AbortSignal;
}

/**
 * Checks the answer to a ranged GET and returns exactly the bytes of `range` (or fewer, if
 * the connection drops: the fetcher resumes from what it got). A 206 must start where we
 * asked. A 200 means the server ignored Range and is sending the whole blob: we skip to the
 * range's start when that costs at most `maxSkipBytes`, and otherwise fail clearly (not
 * retryable, `details.rangeUnsupported`) rather than download the blob once per range.
 */
export function rangeBody(response: HttpResponse, range: ByteRange, options: RangeBodyOptions): AsyncIterable<Uint8Array> {
  const { what } = options;
  const status = response.statusCode;
  if (status === 206) {
    const got = parseContentRange(headerValue(response.headers, 'content-range'));
    if (got !== undefined && got.start !== range.start) {
      discard(response.body);
      throw new ShoalError(
        ErrorCode.ORIGIN_UNAVAILABLE,
        `${what}: ${redactUrl(response.url)} answered bytes ${got.start}- to a request for bytes ${range.start}-`,
        { details: { retryable: false } },
      );
    }
    return limitBody(response, 0, range.end - range.start, options);
  }
  if (status === 200) {
    const maxSkip = options.maxSkipBytes ?? DEFAULT_MAX_SKIP_BYTES;
    if (range.start > maxSkip) {
      discard(response.body);
      throw new ShoalError(
        ErrorCode.ORIGIN_UNAVAILABLE,
        `${what}: ${redactUrl(response.url)} ignores Range (answered 200 to bytes=${range.start}-); ` +
          `refusing to download and discard ${range.start} bytes (limit ${maxSkip}); fetch this origin with one sequential range`,
        { details: { retryable: false, rangeUnsupported: true } },
      );
    }
    return limitBody(response, range.start, range.end - range.start, options);
  }
  discard(response.body);
  if (status === 416) {
    throw new ShoalError(
      ErrorCode.ORIGIN_UNAVAILABLE,
      `${what}: ${redactUrl(response.url)} cannot serve bytes ${range.start}-${range.end - 1}: the blob is shorter than expected`,
      { details: { status, retryable: false } },
    );
  }
  throw statusError(status, what, response.url, response.headers);
}

async function* limitBody(response: HttpResponse, skip: number, length: number, options: RangeBodyOptions) {
  let toSkip = skip;
  let remaining = length;
  try {
    for await (const data of receivedChunks(response.body)) {
      let chunk = data;
      if (toSkip > 0) {
        if (chunk.length <= toSkip) {
          toSkip -= chunk.length;
          continue;
        }
        chunk = chunk.subarray(toSkip);
        toSkip = 0;
      }
      if (chunk.length >= remaining) {
        // Anything past the range (a server that ignored Range) is cut off here.
        yield chunk.subarray(0, remaining);
        remaining = 0;
        return;
      }
      remaining -= chunk.length;
      yield chunk;
    }
  } catch (err) {
    throw networkError(err, options.what, response.url, options.signal);
  }
}
