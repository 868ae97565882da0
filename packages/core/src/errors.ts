/**
 * One error class for the whole project, with stable codes. Callers branch on `code`,
 * HTTP layers map it to a status, logs carry it as a field. Every code is documented in
 * docs/errors.md (a test keeps the two in step).
 */
export const ErrorCode = {
  /** A digest that is not `sha256:` followed by 64 lowercase hex digits. */
  INVALID_DIGEST: 'INVALID_DIGEST',
  /** An argument or request that is malformed (bad range, bad parameter). */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** No origin knows this blob. */
  BLOB_UNKNOWN: 'BLOB_UNKNOWN',
  /** Bytes whose sha256 is not the blob's digest. */
  DIGEST_MISMATCH: 'DIGEST_MISMATCH',
  /** A piece whose sha256 is not the one in the metainfo. */
  PIECE_MISMATCH: 'PIECE_MISMATCH',
  /** Metainfo that is malformed or inconsistent with the blob. */
  INVALID_METAINFO: 'INVALID_METAINFO',
  /** The origin failed (connection, 5xx, truncated body) after retries. */
  ORIGIN_UNAVAILABLE: 'ORIGIN_UNAVAILABLE',
  /** The origin refused our credentials, or the client's. */
  ORIGIN_UNAUTHORIZED: 'ORIGIN_UNAUTHORIZED',
  /** No tracker replica answered. */
  TRACKER_UNAVAILABLE: 'TRACKER_UNAVAILABLE',
  /** The swarm made no progress for too long. */
  SWARM_STALLED: 'SWARM_STALLED',
  /** A peer broke the wire protocol (oversized message, bad request, bad piece). */
  PEER_PROTOCOL: 'PEER_PROTOCOL',
  /** The store cannot take more bytes even after eviction. */
  STORE_FULL: 'STORE_FULL',
  /** A store file is unreadable or inconsistent. */
  STORE_CORRUPT: 'STORE_CORRUPT',
  /** The operation was cancelled (client gone, component stopping). */
  ABORTED: 'ABORTED',
  /** Configuration that cannot work (missing value, bad flag). */
  INVALID_CONFIG: 'INVALID_CONFIG',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ShoalErrorOptions {
  cause?: unknown;
  /** Extra structured context for logs (never credentials). */
  details?: Record<string, unknown>;
}

export class ShoalError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: ShoalErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ShoalError';
    this.code = code;
    this.details = options.details;
  }
}

export function isShoalError(err: unknown, code?: ErrorCode): err is ShoalError {
  return err instanceof ShoalError && (code === undefined || err.code === code);
}

/** The HTTP status a daemon answers with for an error of this code. */
export function httpStatusOf(err: unknown): number {
  if (!(err instanceof ShoalError)) return 500;
  switch (err.code) {
    case ErrorCode.INVALID_DIGEST:
    case ErrorCode.INVALID_ARGUMENT:
    case ErrorCode.INVALID_METAINFO:
      return 400;
    case ErrorCode.ORIGIN_UNAUTHORIZED:
      return 401;
    case ErrorCode.BLOB_UNKNOWN:
      return 404;
    case ErrorCode.STORE_FULL:
      return 507;
    case ErrorCode.DIGEST_MISMATCH:
    case ErrorCode.ORIGIN_UNAVAILABLE:
    case ErrorCode.TRACKER_UNAVAILABLE:
    case ErrorCode.SWARM_STALLED:
      return 502;
    case ErrorCode.ABORTED:
      return 499;
    default:
      return 500;
  }
}

/** A short message for logs and error bodies, whatever was thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
