/**
 * The agent's registry mirror: the pull side of the OCI distribution API for containerd,
 * with blobs from the node's store and the swarm.
 */
export { RegistryMirror, type RegistryMirrorOptions } from './registry-mirror.ts';
export { BlobRoute, type BlobRouteOptions, type FallbackMode } from './blob-route.ts';
export { ManifestRoute, type ManifestRouteOptions } from './manifest-route.ts';
export { ManifestCache, type CachedManifest, type ManifestCacheOptions } from './manifest-cache.ts';
export { ClientAccess, type AccessDecision, type AccessRequest, type ClientAccessOptions } from './client-access.ts';
export { Upstreams, loadUpstreamConfig, parseUpstreamConfig, type UpstreamConfig } from './upstreams.ts';
export { isMirrorPath, parseMirrorRequest, type MirrorRequest } from './mirror-request.ts';
