import { type BlobSource, type Digest, ErrorCode, ShoalError, parseDigest, shortDigest } from '@shoal/core';
import type { ByteRange, Origin, OriginBlobInfo } from '../origin.ts';
import { emptyBody, probeBlobSize, rangeBody, rangeHeader } from '../ranges.ts';
import { RegistryClient, type RegistryClientOptions } from './registry-client.ts';

/** Options of a {@link RegistryOrigin}: a client, or the options to make one. */
export interface RegistryOriginOptions extends RegistryClientOptions {
  /** A client to share (its token cache) with preheat and the mirror; built from the other options when absent. */
  client?: RegistryClient;
  /** Bytes read and discarded to reach a range's start when storage ignores Range. */
  maxSkipBytes?: number;
}

/**
 * Blobs of OCI registries, for `source.kind === 'registry'`: `GET /v2/<repository>/blobs/<digest>`
 * with ranges, through the {@link RegistryClient}'s auth flow, following the redirect to
 * blob storage that most registries answer with (S3, GCS, a CDN), without our credentials.
 */
export class RegistryOrigin implements Origin {
  readonly kind = 'registry';
  readonly client: RegistryClient;
  readonly #maxSkipBytes: number | undefined;

  constructor(options: RegistryOriginOptions = {}) {
    this.client = options.client ?? new RegistryClient(options);
    this.#maxSkipBytes = options.maxSkipBytes;
  }

  accepts(source: BlobSource | undefined): boolean {
    return source?.kind === 'registry';
  }

  #source(digest: Digest, source: BlobSource | undefined): { registry: string; repository: string } {
    parseDigest(digest);
    if (source?.kind !== 'registry') {
      throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `blob ${shortDigest(digest)}: RegistryOrigin needs a registry source`);
    }
    return source;
  }

  async stat(digest: Digest, source: BlobSource | undefined, signal?: AbortSignal): Promise<OriginBlobInfo> {
    const { registry, repository } = this.#source(digest, source);
    const what = `blob ${shortDigest(digest)} from ${registry}/${repository}`;
    return probeBlobSize(
      (method, headers) => this.client.request(registry, repository, `blobs/${digest}`, { method, headers, signal, what }),
      what,
    );
  }

  async read(
    digest: Digest,
    source: BlobSource | undefined,
    range: ByteRange,
    signal?: AbortSignal,
  ): Promise<AsyncIterable<Uint8Array>> {
    const { registry, repository } = this.#source(digest, source);
    if (range.end <= range.start) return emptyBody();
    const what = `blob ${shortDigest(digest)} from ${registry}/${repository}`;
    const response = await this.client.request(registry, repository, `blobs/${digest}`, {
      headers: { range: rangeHeader(range) },
      signal,
      what,
    });
    return rangeBody(response, range, { what, signal, maxSkipBytes: this.#maxSkipBytes });
  }
}
