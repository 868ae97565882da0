import { ErrorCode, ShoalError, isDigest } from '@shoal/core';

/** Docker Hub's registry name in image references. */
export const DOCKER_HUB = 'docker.io';
/** Docker Hub's API host (`docker.io` is not one). */
export const DOCKER_HUB_ENDPOINT = 'https://registry-1.docker.io';

/** Names by which Docker Hub appears in references and docker config files. */
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

const REGISTRY_RE = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$/;
const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const REPOSITORY_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/**
 * The canonical name of a registry: lower case, Docker Hub's aliases folded to `docker.io`.
 * Accepts what appears in docker config files too (`https://index.docker.io/v1/`: scheme and
 * path dropped).
 * Throws INVALID_ARGUMENT for anything that is not a host[:port].
 */
export function canonicalRegistry(registry: string): string {
  let name = registry.trim().toLowerCase();
  // Docker config keys may be URLs (`https://index.docker.io/v1/`); a bare name has no path.
  const scheme = /^https?:\/\//.exec(name);
  if (scheme) name = name.slice(scheme[0].length).replace(/\/.*$/, '');
  if (DOCKER_HUB_ALIASES.has(name)) return DOCKER_HUB;
  if (!REGISTRY_RE.test(name)) {
    throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `invalid registry name ${JSON.stringify(registry.slice(0, 100))}`);
  }
  return name;
}

/**
 * A repository name as the registry's API expects it: validated against the distribution
 * spec's grammar (so it can go into a URL path unescaped), with Docker Hub's convention
 * that single-name repositories live under `library/` (`ubuntu` is `library/ubuntu`).
 */
export function normalizeRepository(registry: string, repository: string): string {
  if (repository.length > 255 || !REPOSITORY_RE.test(repository)) {
    throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `invalid repository name ${JSON.stringify(repository.slice(0, 100))}`);
  }
  if (canonicalRegistry(registry) === DOCKER_HUB && !repository.includes('/')) return `library/${repository}`;
  return repository;
}

/** Validates a manifest reference: a tag or a `sha256:` digest. */
export function checkReference(reference: string): string {
  if (isDigest(reference) || TAG_RE.test(reference)) return reference;
  throw new ShoalError(
    ErrorCode.INVALID_ARGUMENT,
    `invalid manifest reference ${JSON.stringify(reference.slice(0, 100))}: expected a tag or a sha256 digest`,
  );
}

/**
 * The base URL of a registry's API: from `endpoints` (keys are registry names, canonicalized),
 * Docker Hub's API host for `docker.io`, else `https://<registry>`.
 */
export function registryEndpoint(registry: string, endpoints: ReadonlyMap<string, string>): string {
  const name = canonicalRegistry(registry);
  const configured = endpoints.get(name);
  if (configured) return configured;
  if (name === DOCKER_HUB) return DOCKER_HUB_ENDPOINT;
  return `https://${name}`;
}
