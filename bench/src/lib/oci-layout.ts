/**
 * Writing an OCI image layout (image-spec `oci-layout` + `index.json` + `blobs/sha256/`) by
 * hand, offline: blobs are hashed while they are written, layers are tarred (and optionally
 * gzipped) in one streaming pass. skopeo then pushes the layout to a registry.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { tarStream, type TarEntry } from './tar.ts';

/** OCI / Docker media types the harness uses. */
export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
  octetStream: 'application/octet-stream',
} as const;

/** An OCI content descriptor. */
export interface Descriptor {
  mediaType: string;
  /** `sha256:<hex>` */
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

/** A layer descriptor plus what image configs and unpackers need. */
export interface LayerDescriptor extends Descriptor {
  /** sha256 of the uncompressed tar (the config's `rootfs.diff_ids` entry). */
  diffId: string;
  uncompressedSize: number;
}

/** OCI platform. */
export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

/** How layer tars are stored: `none` is fastest for big random files (gzip cannot shrink them). */
export type LayerCompression = 'none' | 'gzip';

/** Counts and hashes bytes passing through. */
class HashCounter extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
}

/** An OCI image layout directory being written. */
export class OciLayout {
  readonly dir: string;
  readonly #blobDir: string;
  readonly #index: Descriptor[] = [];

  private constructor(dir: string) {
    this.dir = dir;
    this.#blobDir = join(dir, 'blobs', 'sha256');
  }

  /** Creates (or reuses) `dir` as an empty OCI layout. */
  static async create(dir: string): Promise<OciLayout> {
    const layout = new OciLayout(dir);
    await mkdir(layout.#blobDir, { recursive: true });
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await layout.#writeIndex();
    return layout;
  }

  /** Path of a blob in the layout. */
  blobPath(digest: string): string {
    return join(this.#blobDir, digest.replace(/^sha256:/, ''));
  }

  /** Stores bytes as a blob. */
  async writeBlob(bytes: Buffer | string, mediaType: string): Promise<Descriptor> {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    const digest = `sha256:${createHash('sha256').update(buf).digest('hex')}`;
    await writeFile(this.blobPath(digest), buf);
    return { mediaType, digest, size: buf.length };
  }

  /** Stores `value` as canonical-enough JSON (no whitespace) and returns its descriptor and bytes. */
  async writeJson(value: unknown, mediaType: string): Promise<Descriptor & { bytes: Buffer }> {
    const bytes = Buffer.from(JSON.stringify(value));
    return { ...(await this.writeBlob(bytes, mediaType)), bytes };
  }

  /**
   * Streams `source` into a blob, optionally gzipping (level 1: random data does not compress,
   * so higher levels only cost time). Returns digests of both the stored and the raw bytes.
   */
  async writeStream(
    source: AsyncIterable<Buffer>,
    mediaType: string,
    compression: LayerCompression = 'none',
  ): Promise<Descriptor & { rawDigest: string; rawSize: number }> {
    const tmp = join(this.#blobDir, `.tmp-${randomBytes(6).toString('hex')}`);
    const raw = new HashCounter();
    const stored = new HashCounter();
    if (compression === 'gzip') {
      await pipeline(Readable.from(source), raw, createGzip({ level: 1 }), stored, createWriteStream(tmp));
    } else {
      await pipeline(Readable.from(source), raw, createWriteStream(tmp));
    }
    const rawDigest = `sha256:${raw.hash.digest('hex')}`;
    const digest = compression === 'gzip' ? `sha256:${stored.hash.digest('hex')}` : rawDigest;
    const size = compression === 'gzip' ? stored.size : raw.size;
    await rename(tmp, this.blobPath(digest));
    return { mediaType, digest, size, rawDigest, rawSize: raw.size };
  }

  /** Tars `entries` into a layer blob. */
  async writeLayer(
    entries: readonly TarEntry[],
    compression: LayerCompression = 'none',
    mediaType?: string,
  ): Promise<LayerDescriptor> {
    const mt = mediaType ?? (compression === 'gzip' ? MediaType.ociLayerGzip : MediaType.ociLayerTar);
    const d = await this.writeStream(tarStream(entries), mt, compression);
    return { mediaType: d.mediaType, digest: d.digest, size: d.size, diffId: d.rawDigest, uncompressedSize: d.rawSize };
  }

  /**
   * Lists `desc` in `index.json` under `org.opencontainers.image.ref.name = tag`, which is
   * what `oci:DIR:TAG` in skopeo refers to. A later entry with the same tag replaces the old.
   */
  async tag(desc: Descriptor, tag: string): Promise<void> {
    const key = 'org.opencontainers.image.ref.name';
    const existing = this.#index.findIndex((d) => d.annotations?.[key] === tag);
    if (existing >= 0) this.#index.splice(existing, 1);
    const { mediaType, digest, size } = desc;
    this.#index.push({ mediaType, digest, size, annotations: { [key]: tag } });
    await this.#writeIndex();
  }

  async #writeIndex(): Promise<void> {
    await writeFile(
      join(this.dir, 'index.json'),
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: this.#index }),
    );
  }
}
