import { type Digest, ErrorCode, ShoalError, isDigest } from '@shoal/core';
import { DOCKER_HUB, canonicalRegistry, checkReference, normalizeRepository } from './names.ts';

/** An image reference taken apart: where the image lives and which manifest to read. */
export interface ImageReference {
  /** Canonical registry name (`docker.io` for Docker Hub). */
  registry: string;
  /** Repository as the registry's API names it (`library/ubuntu` on Docker Hub). */
  repository: string;
  /** What to ask the registry for: the digest when there is one, else the tag. */
  reference: string;
  tag?: string;
  digest?: Digest;
}

/**
 * Parses an image reference the way docker and containerd do: `[registry/]repository[:tag][@digest]`.
 * The first path component is a registry when it has a `.` or a `:` or is `localhost`;
 * otherwise the image is on Docker Hub, where one-component names live under `library/`.
 * No tag and no digest means `latest`; with both, the digest decides (the tag is kept for
 * display). Throws INVALID_ARGUMENT with the reason for anything else.
 */
export function parseImageReference(value: string): ImageReference {
  const input = value.trim();
  if (input === '' || input.length > 512 || /\s/.test(input)) {
    throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `invalid image reference ${JSON.stringify(input.slice(0, 100))}`);
  }
  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const candidate = rest.slice(at + 1);
    if (!isDigest(candidate)) {
      throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `image reference ${JSON.stringify(input.slice(0, 100))}: ${JSON.stringify(candidate.slice(0, 80))} is not a sha256 digest`);
    }
    digest = candidate;
    rest = rest.slice(0, at);
  }
  // A tag follows the last colon after the last slash (a colon before it is a registry port).
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = checkReference(rest.slice(colon + 1));
    rest = rest.slice(0, colon);
  }
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  const hasRegistry = first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost');
  const registry = hasRegistry ? canonicalRegistry(first) : DOCKER_HUB;
  const repository = normalizeRepository(registry, hasRegistry ? rest.slice(slash + 1) : rest);
  return {
    registry,
    repository,
    reference: digest ?? tag ?? 'latest',
    ...(tag !== undefined ? { tag } : digest === undefined ? { tag: 'latest' } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** `registry/repository:tag@digest`, as parsed (for logs and progress). */
export function formatImageReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}
