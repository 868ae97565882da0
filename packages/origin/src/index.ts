/**
 * @shoal/origin: where blobs come from the first time (OCI registries, S3 buckets, HTTP
 * URLs, directories), and the fetcher that reads a blob from one of them once, in parallel
 * ranges, checking its digest.
 */
export * from './origin.ts';
export * from './fetch-blob.ts';
export { InOrderHasher, type InOrderHasherOptions, type HashThread } from './in-order-hasher.ts';
export * from './single-flight.ts';
export * from './directory-origin.ts';
export * from './http-origin.ts';
export * from './s3-origin.ts';
export * from './s3-signer.ts';
export * from './registry/registry-origin.ts';
export * from './registry/registry-client.ts';
export * from './registry/manifest.ts';
export * from './registry/credentials.ts';
export * from './registry/image-reference.ts';
export { canonicalRegistry, normalizeRepository, checkReference, DOCKER_HUB, DOCKER_HUB_ENDPOINT } from './registry/names.ts';
export { parseWwwAuthenticate, type AuthChallenge } from './registry/www-authenticate.ts';
export { redactUrl, isRetryable } from './http-errors.ts';
export type { HttpTransportOptions } from './http-client.ts';
export { parseContentRange } from './ranges.ts';
export * from './fill-partial.ts';
