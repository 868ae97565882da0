import type { Digest } from '@shoal/core';

/** A manifest body as the registry served it. */
export interface CachedManifest {
  digest: Digest;
  mediaType: string;
  body: Buffer;
}

export interface ManifestCacheOptions {
  /** Bytes of manifest bodies kept at most (default 32 MiB); the least recently used go first. */
  maxBytes?: number;
  /** How long an entry lives (default 10 min). */
  ttlMs?: number;
  /** Clock in ms, for tests. */
  now?: () => number;
}

interface Entry {
  manifest: CachedManifest;
  expiresAt: number;
}

/**
 * Manifests by digest, kept briefly. A digest names its bytes, so an entry can never be
 * stale; the cache exists so that the same manifest asked for again (containerd resolves a
 * tag with HEAD, then GETs the manifest and each platform's manifest by digest; a node pulls
 * the same image into several pods) costs the registry a HEAD instead of a GET. Docker Hub
 * counts manifest GETs against its pull rate limit and HEADs not. Entries expire so the
 * memory goes back to the node between rollouts; whether a client may read an entry is
 * decided per request (ClientAccess), never by the cache.
 */
export class ManifestCache {
  readonly #entries = new Map<Digest, Entry>();
  readonly #maxBytes: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #bytes = 0;

  constructor(options: ManifestCacheOptions = {}) {
    this.#maxBytes = options.maxBytes ?? 32 << 20;
    this.#ttlMs = options.ttlMs ?? 600_000;
    this.#now = options.now ?? Date.now;
  }

  /** Bytes of bodies held. */
  get bytes(): number {
    return this.#bytes;
  }

  get(digest: Digest): CachedManifest | undefined {
    const entry = this.#entries.get(digest);
    if (!entry) return undefined;
    this.#entries.delete(digest);
    if (entry.expiresAt <= this.#now()) {
      this.#bytes -= entry.manifest.body.length;
      return undefined;
    }
    // Re-insert: Map order is the eviction order, oldest use first.
    this.#entries.set(digest, entry);
    return entry.manifest;
  }

  /** Keeps a manifest whose body the caller checked against its digest. */
  set(manifest: CachedManifest): void {
    if (manifest.body.length > this.#maxBytes) return;
    const previous = this.#entries.get(manifest.digest);
    if (previous) {
      this.#entries.delete(manifest.digest);
      this.#bytes -= previous.manifest.body.length;
    }
    this.#entries.set(manifest.digest, { manifest, expiresAt: this.#now() + this.#ttlMs });
    this.#bytes += manifest.body.length;
    for (const [digest, entry] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#entries.delete(digest);
      this.#bytes -= entry.manifest.body.length;
    }
  }
}
