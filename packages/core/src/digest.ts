import { ErrorCode, ShoalError } from './errors.ts';

/**
 * A blob's one identity everywhere in Shoal: `sha256:` followed by 64 lowercase hex digits.
 * The brand keeps unchecked strings from reaching store paths, swarm keys and URLs.
 */
export type Digest = string & { readonly __brand: 'Digest' };

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && DIGEST_RE.test(value);
}

/**
 * Parses a digest, rejecting everything that is not exactly `sha256:<64 lowercase hex>`:
 * other algorithms, upper case, whitespace, path separators. Because the hex part is the
 * only variable part of every store path, this check is what keeps paths safe.
 */
export function parseDigest(value: unknown): Digest {
  if (isDigest(value)) return value;
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : typeof value;
  throw new ShoalError(
    ErrorCode.INVALID_DIGEST,
    `invalid digest ${shown}: expected "sha256:" followed by 64 lowercase hex digits`,
  );
}

/** The 64 hex digits of a digest. */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

/** The digest with these 64 hex digits (validated). */
export function digestFromHex(hex: string): Digest {
  return parseDigest(`sha256:${hex}`);
}

/** A short form for log lines and progress output. */
export function shortDigest(digest: Digest): string {
  return digest.slice(0, 'sha256:'.length + 12);
}
