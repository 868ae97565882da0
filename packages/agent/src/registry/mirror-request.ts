import type { IncomingMessage } from 'node:http';
import { ErrorCode, ShoalError } from '@shoal/core';
import { normalizeRepository } from '@shoal/origin';
import type { Upstreams } from './upstreams.ts';

/** A request of the distribution API, parsed: which registry, repository and object. */
export interface MirrorRequest {
  kind: 'manifests' | 'blobs';
  /** Canonical registry (from `?ns=`, or the default one). */
  registry: string;
  /** As the registry's API names it (`library/ubuntu` on Docker Hub for `ubuntu`). */
  repository: string;
  /** Tag or digest (manifests), digest (blobs); not yet validated. */
  reference: string;
  /** The client's Authorization header, forwarded to the upstream only. */
  authorization: string | undefined;
  /** The registry as a metrics label. */
  label: string;
}

const OBJECT_PATH = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/;

/** True for the paths the mirror answers (`/v2/` and below). */
export function isMirrorPath(path: string): boolean {
  return path === '/v2' || path.startsWith('/v2/');
}

/** True for `GET /v2/`, the API version check. */
export function isBasePath(path: string): boolean {
  return path === '/v2' || path === '/v2/';
}

/**
 * Parses `/v2/<name>/manifests/<reference>` and `/v2/<name>/blobs/<digest>`. Returns
 * undefined for any other path (tags, uploads, catalog: not served by a pull mirror). Throws
 * INVALID_ARGUMENT for a malformed repository name or `ns`.
 */
export function parseMirrorRequest(
  req: IncomingMessage,
  path: string,
  query: URLSearchParams,
  upstreams: Upstreams,
): MirrorRequest | undefined {
  const match = OBJECT_PATH.exec(path);
  if (!match) return undefined;
  const [, name, kind, reference] = match;
  const registry = upstreams.registryFor(query.get('ns'));
  // The name goes into the upstream URL unescaped: the grammar check is what keeps it a path.
  const repository = normalizeRepository(registry, name!);
  let ref: string;
  try {
    ref = decodeURIComponent(reference!);
  } catch {
    throw new ShoalError(ErrorCode.INVALID_ARGUMENT, 'malformed percent-encoding in the reference');
  }
  const authorization = req.headers.authorization;
  return {
    kind: kind as 'manifests' | 'blobs',
    registry,
    repository,
    reference: ref,
    authorization: authorization === '' ? undefined : authorization,
    label: upstreams.label(registry),
  };
}
