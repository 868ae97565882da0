import type { IncomingHttpHeaders } from 'node:http';
import { ErrorCode, ShoalError } from '@shoal/core';

/**
 * A URL as it may appear in logs and error messages: no user info, no query string. A
 * presigned URL's query string is a credential (its signature), and it is not part of the
 * blob's identity anyway; the digest is.
 */
export function redactUrl(url: URL | string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '<invalid url>';
  }
}

/** Milliseconds from a Retry-After header (seconds or an HTTP date), if any. */
export function retryAfterMs(headers: IncomingHttpHeaders): number | undefined {
  const value = headerValue(headers, 'retry-after');
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** The first value of a response header (undici gives arrays for repeated headers). */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Maps a response status that is not the expected one to a ShoalError. 404 and 410 mean the
 * origin does not have the blob; 401 and 403 that it refused us (after any auth flow); 408,
 * 429 and 5xx are worth retrying; anything else is a misconfiguration that retrying will not
 * fix (`details.retryable` false).
 */
export function statusError(status: number, what: string, url: URL | string, headers: IncomingHttpHeaders = {}): ShoalError {
  const where = redactUrl(url);
  if (status === 404 || status === 410) {
    return new ShoalError(ErrorCode.BLOB_UNKNOWN, `${what}: not found at ${where} (HTTP ${status})`, { details: { status } });
  }
  if (status === 401 || status === 403) {
    return new ShoalError(ErrorCode.ORIGIN_UNAUTHORIZED, `${what}: ${where} refused access (HTTP ${status})`, {
      details: { status },
    });
  }
  const retryable = status === 408 || status === 429 || status >= 500;
  const details: Record<string, unknown> = { status, retryable };
  const after = retryAfterMs(headers);
  if (after !== undefined) details.retryAfterMs = after;
  return new ShoalError(ErrorCode.ORIGIN_UNAVAILABLE, `${what}: ${where} answered HTTP ${status}`, { details });
}

/** True for errors raised because a signal was aborted (ours, undici's, timers'). */
export function isAbortError(err: unknown): boolean {
  if (err instanceof ShoalError) return err.code === ErrorCode.ABORTED;
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { name?: unknown; code?: unknown };
  return e.name === 'AbortError' || e.code === 'ABORT_ERR' || e.code === 'UND_ERR_ABORTED' || e.code === 'UND_ERR_ABORT';
}

/** The error to throw when `signal` aborted: the reason if it is a ShoalError, else ABORTED. */
export function abortError(signal: AbortSignal | undefined, what: string): ShoalError {
  const reason: unknown = signal?.reason;
  if (reason instanceof ShoalError) return reason;
  return new ShoalError(ErrorCode.ABORTED, `${what}: aborted`, { cause: reason });
}

/**
 * Maps a failure to reach a server or read its body (refused, reset, timed out, TLS) to
 * ORIGIN_UNAVAILABLE, or to ABORTED when our own signal caused it. ShoalErrors pass through.
 */
export function networkError(err: unknown, what: string, url: URL | string, signal?: AbortSignal): ShoalError {
  if (err instanceof ShoalError) return err;
  if (signal?.aborted || isAbortError(err)) return abortError(signal, what);
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
  const message = err instanceof Error ? err.message : String(err);
  return new ShoalError(ErrorCode.ORIGIN_UNAVAILABLE, `${what}: ${redactUrl(url)}: ${code ? `${code} ` : ''}${message}`, {
    cause: err,
    details: { retryable: true, ...(code ? { errno: code } : {}) },
  });
}

/**
 * Whether an attempt that failed with `err` may succeed when repeated: network failures,
 * truncated bodies, 408/429/5xx. Not: unknown blobs, refused credentials, digest mismatches,
 * bad configuration, cancellation.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof ShoalError) {
    return err.code === ErrorCode.ORIGIN_UNAVAILABLE && err.details?.retryable !== false;
  }
  // Raw errors reach us from body streams (socket reset, body timeout) and are transient.
  return !isAbortError(err);
}
