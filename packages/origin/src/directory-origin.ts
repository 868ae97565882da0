import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type BlobSource, type Digest, ErrorCode, ShoalError, digestHex, parseDigest, shortDigest } from '@shoal/core';
import { abortError } from './http-errors.ts';
import type { ByteRange, Origin, OriginBlobInfo } from './origin.ts';
import { emptyBody } from './ranges.ts';

/** Options of a {@link DirectoryOrigin}. */
export interface DirectoryOriginOptions {
  /** The directory: an OCI image layout, or a flat directory of blobs named by digest. */
  root: string;
}

/**
 * Blobs in a local directory (a mounted volume, an OCI image layout written by skopeo or
 * umoci). A blob is looked up, in order, at `<root>/blobs/sha256/<hex>` (OCI image layout),
 * `<root>/sha256/<hex>` and `<root>/<hex>`. Paths are built only from a validated digest,
 * whose hex part cannot contain a separator, so no request reaches outside `root`.
 *
 * It serves requests with no source (`accepts(undefined)`): a directory is a default origin.
 */
export class DirectoryOrigin implements Origin {
  readonly kind = 'directory';
  readonly root: string;

  constructor(options: DirectoryOriginOptions) {
    if (typeof options?.root !== 'string' || options.root === '') {
      throw new ShoalError(ErrorCode.INVALID_CONFIG, 'DirectoryOrigin needs a root directory (options.root)');
    }
    this.root = options.root;
  }

  accepts(source: BlobSource | undefined): boolean {
    return source === undefined;
  }

  /** The candidate paths of a blob, most specific layout first. */
  pathsOf(digest: Digest): string[] {
    const hex = digestHex(parseDigest(digest));
    return [join(this.root, 'blobs', 'sha256', hex), join(this.root, 'sha256', hex), join(this.root, hex)];
  }

  async #locate(digest: Digest): Promise<{ path: string; size: number }> {
    for (const path of this.pathsOf(digest)) {
      try {
        const s = await stat(path);
        if (s.isFile()) return { path, size: s.size };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') {
          throw new ShoalError(ErrorCode.ORIGIN_UNAVAILABLE, `blob ${shortDigest(digest)}: cannot stat ${path}: ${code}`, {
            cause: err,
          });
        }
      }
    }
    throw new ShoalError(ErrorCode.BLOB_UNKNOWN, `blob ${digest} is not in directory ${this.root}`);
  }

  async stat(digest: Digest, _source: BlobSource | undefined, signal?: AbortSignal): Promise<OriginBlobInfo> {
    if (signal?.aborted) throw abortError(signal, `stat ${shortDigest(digest)}`);
    const { size } = await this.#locate(digest);
    return { size, acceptsRanges: true };
  }

  async read(
    digest: Digest,
    _source: BlobSource | undefined,
    range: ByteRange,
    signal?: AbortSignal,
  ): Promise<AsyncIterable<Uint8Array>> {
    if (signal?.aborted) throw abortError(signal, `read ${shortDigest(digest)}`);
    const { path, size } = await this.#locate(digest);
    if (range.start < 0 || range.end < range.start || range.end > size) {
      throw new ShoalError(
        ErrorCode.ORIGIN_UNAVAILABLE,
        `blob ${shortDigest(digest)}: range ${range.start}-${range.end} outside its ${size} bytes in ${this.root}`,
        { details: { retryable: false } },
      );
    }
    if (range.end === range.start) return emptyBody();
    // 1 MiB reads: the default 64 KiB costs a syscall and an event-loop turn per 64 KiB.
    return createReadStream(path, { start: range.start, end: range.end - 1, highWaterMark: 1 << 20, signal });
  }
}
