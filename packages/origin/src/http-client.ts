import type { IncomingHttpHeaders } from 'node:http';
import { ErrorCode, ShoalError } from '@shoal/core';
import { type Dispatcher, request } from 'undici';
import {
  BODY_HIGH_WATER_MARK,
  DEFAULT_BODY_TIMEOUT_MS,
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_MAX_REDIRECTS,
  MAX_MANIFEST_BYTES,
} from './constants.ts';
import { networkError, redactUrl } from './http-errors.ts';

/** Options shared by every HTTP-speaking origin. */
export interface HttpTransportOptions {
  /** undici dispatcher (an `Agent` with its own connection limits); the global one by default. */
  dispatcher?: Dispatcher;
  /** Milliseconds to wait for response headers. */
  headersTimeout?: number;
  /** Milliseconds without a body byte before the response fails (and the fetcher resumes). */
  bodyTimeout?: number;
  /** Redirects followed per request. */
  maxRedirects?: number;
}

/** One request, before redirects. */
export interface HttpRequestInit extends HttpTransportOptions {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Short description of the operation for error messages ("blob sha256:… from http origin"). */
  what: string;
}

/** A response after redirects; `url` is where it came from. The caller must consume or dump `body`. */
export interface HttpResponse {
  url: URL;
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Dispatcher.ResponseData['body'];
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Headers that carry credentials for one origin and must not follow a redirect to another. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

/**
 * Sends a GET or HEAD with undici and follows redirects itself, so that credentials never
 * leak: registries answer blob GETs with a redirect to a presigned storage URL, and the
 * registry's Authorization header must not reach the storage host (S3 rejects a request
 * that carries both a signature in the query and an Authorization header). Range and
 * Accept do follow the redirect.
 */
export async function httpRequest(url: URL, init: HttpRequestInit): Promise<HttpResponse> {
  const maxRedirects = init.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  let headers = { ...(init.headers ?? {}) };
  let current = url;
  for (let hop = 0; ; hop++) {
    if (current.protocol !== 'http:' && current.protocol !== 'https:') {
      throw new ShoalError(ErrorCode.ORIGIN_UNAVAILABLE, `${init.what}: refusing a non-HTTP URL ${redactUrl(current)}`, {
        details: { retryable: false },
      });
    }
    let response: Dispatcher.ResponseData;
    try {
      response = await request(current, {
        method: init.method ?? 'GET',
        headers,
        signal: init.signal,
        headersTimeout: init.headersTimeout ?? DEFAULT_HEADERS_TIMEOUT_MS,
        bodyTimeout: init.bodyTimeout ?? DEFAULT_BODY_TIMEOUT_MS,
        highWaterMark: BODY_HIGH_WATER_MARK,
        ...(init.dispatcher ? { dispatcher: init.dispatcher } : {}),
      });
    } catch (err) {
      throw networkError(err, init.what, current, init.signal);
    }
    const location = response.headers.location;
    if (!REDIRECTS.has(response.statusCode) || typeof location !== 'string' || maxRedirects === 0) {
      return { url: current, statusCode: response.statusCode, headers: response.headers, body: response.body };
    }
    await dump(response.body);
    if (hop >= maxRedirects) {
      throw new ShoalError(ErrorCode.ORIGIN_UNAVAILABLE, `${init.what}: more than ${maxRedirects} redirects from ${redactUrl(url)}`, {
        details: { retryable: false },
      });
    }
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw new ShoalError(ErrorCode.ORIGIN_UNAVAILABLE, `${init.what}: invalid redirect from ${redactUrl(current)}`, {
        details: { retryable: false },
      });
    }
    if (next.origin !== current.origin) {
      headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !CREDENTIAL_HEADERS.includes(k.toLowerCase())));
    }
    current = next;
  }
}

/**
 * The chunks of a body, in order, with every byte that arrived before a failure delivered
 * before the failure is thrown. (A Readable's own async iterator drops what it has buffered
 * when the stream errors: behind a rate limit that is up to a buffer's worth of bytes the
 * origin sent and the fetcher would ask for again after resuming.) At most `maxQueued` bytes
 * wait in memory: the socket is paused beyond that.
 */
export async function* receivedChunks(body: HttpResponse['body'], maxQueued = BODY_HIGH_WATER_MARK): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let queued = 0;
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData = (chunk: Buffer) => {
    queue.push(chunk);
    queued += chunk.length;
    if (queued >= maxQueued) body.pause();
    notify();
  };
  const onEnd = () => {
    ended = true;
    notify();
  };
  const onError = (err: unknown) => {
    failure ??= err;
    notify();
  };
  body.on('data', onData);
  body.once('end', onEnd);
  body.on('error', onError);
  try {
    for (;;) {
      const chunk = queue.shift();
      if (chunk !== undefined) {
        queued -= chunk.length;
        if (body.isPaused() && queued < maxQueued / 2 && failure === undefined) body.resume();
        yield chunk;
        continue;
      }
      if (failure !== undefined) throw failure;
      if (ended) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    body.off('data', onData);
    body.off('end', onEnd);
    // Keep swallowing errors of a body we stop reading (destroying it reports one).
    if (!ended) discard(body);
    else body.off('error', onError);
  }
}

/** Discards a body we do not need so that its connection can be reused (or is closed). */
export async function dump(body: HttpResponse['body']): Promise<void> {
  try {
    // Small error bodies are drained (connection reused); large ones are cut.
    await body.dump({ limit: 64 * 1024 });
  } catch {
    // Nothing to do: the connection is gone either way.
  }
}

/**
 * Closes a body we will not read (cuts its connection). undici reports a body destroyed
 * before its end as an 'error' event, which nobody listens to here, so swallow it.
 */
export function discard(body: HttpResponse['body']): void {
  body.on('error', () => {});
  body.destroy();
}

/** Reads a whole (small) body, failing beyond `limit` bytes rather than buffering a blob by mistake. */
export async function readLimited(response: HttpResponse, what: string, limit = MAX_MANIFEST_BYTES): Promise<Buffer> {
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    await dump(response.body);
    throw new ShoalError(ErrorCode.ORIGIN_UNAVAILABLE, `${what}: body of ${declared} bytes exceeds ${limit}`, {
      details: { retryable: false },
    });
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of response.body) {
      total += (chunk as Buffer).length;
      if (total > limit) {
        discard(response.body);
        throw new ShoalError(ErrorCode.ORIGIN_UNAVAILABLE, `${what}: body exceeds ${limit} bytes`, {
          details: { retryable: false },
        });
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    throw networkError(err, what, response.url);
  }
  return Buffer.concat(chunks, total);
}
