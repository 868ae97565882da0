/**
 * Test images built offline and pushed to a registry with skopeo: a multi-layer image with a
 * big random layer and known files, a multi-platform index, and an ML model packaged as an OCI
 * artifact. Every function returns the digests and sizes of what is now in the registry, so
 * tests can assert on exactly the bytes Shoal must move.
 *
 * Push path: OCI media types go through `skopeo copy --preserve-digests oci:LAYOUT:TAG`;
 * Docker schema2 goes through skopeo's `dir:` transport (its `oci:` transport ignores index
 * entries with Docker media types). `--preserve-digests` matters: without it skopeo gzips
 * uncompressed layers on the way to a registry, changing every digest.
 */
import { createHash } from 'node:crypto';
import { link, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MediaType, OciLayout, type Descriptor, type LayerCompression, type LayerDescriptor, type Platform } from './oci-layout.ts';
import { makeTempDir, removeDir, run } from './managed-process.ts';
import type { Credentials } from './registry.ts';
import { pseudoRandomBytes, randomSeed, type TarEntry } from './tar.ts';

/** Where to push: a {@link Registry} from `startRegistry()` fits, or any host with optional credentials. */
export interface RegistryTarget {
  /** `127.0.0.1:PORT` */
  host: string;
  auth?: Credentials;
}

/** Manifest flavour to push. */
export type ManifestFormat = 'oci' | 'docker';

/** A file inside a built image, for checking an unpacked rootfs. */
export interface ImageFile {
  /** Absolute path inside the image, e.g. `/shoal/hello.txt`. */
  path: string;
  size: number;
  /** Hex sha256 of the content. */
  sha256: string;
  /** The content itself, for small text files. */
  content?: string;
}

/** A single-platform image as it now sits in the registry. */
export interface PushedImage {
  /** `HOST/REPOSITORY:TAG` */
  ref: string;
  /** `HOST/REPOSITORY@sha256:...` */
  refByDigest: string;
  host: string;
  repository: string;
  tag: string;
  manifest: Descriptor;
  config: Descriptor;
  /** In manifest order (base first). */
  layers: LayerDescriptor[];
  /** Known files, e.g. the marker `/shoal/hello.txt` and the big `/shoal/big.bin`. */
  files: ImageFile[];
  platform: Platform;
}

/** A multi-platform image index as it now sits in the registry. */
export interface PushedIndex {
  ref: string;
  refByDigest: string;
  host: string;
  repository: string;
  tag: string;
  /** The index (or Docker manifest list) itself. */
  index: Descriptor;
  /** One per platform, in index order; their `ref` is by digest (`HOST/REPO@sha256:...`). */
  images: PushedImage[];
}

/** A non-image OCI artifact (a model) as it now sits in the registry. */
export interface PushedArtifact {
  ref: string;
  refByDigest: string;
  host: string;
  repository: string;
  tag: string;
  manifest: Descriptor;
  artifactType: string;
  config: Descriptor;
  /** The model blob(s), in manifest order; `annotations['org.opencontainers.image.title']` names each. */
  layers: Descriptor[];
}

/** Options shared by every push. */
export interface PushCommon {
  repository?: string;
  tag?: string;
  /** Seed for the pseudo-random content; the same seed gives the same digests. Default: random. */
  seed?: string;
}

/** Options for {@link pushMultiLayerImage}. */
export interface MultiLayerImageOptions extends PushCommon {
  /** Size of the random file `/shoal/big.bin` in its own layer, in MiB (fractions allowed). */
  bigLayerMiB: number;
  /**
   * Compression of the big layer. `none` (default) stores `application/vnd.oci.image.layer.v1.tar`
   * (or Docker's `rootfs.diff.tar`): random data does not compress and containerd unpacks plain
   * tar layers. The small layers are always gzip.
   */
  bigLayerCompression?: LayerCompression;
  format?: ManifestFormat;
  platform?: Platform;
}

/** Options for {@link pushMultiPlatformIndex}. */
export interface MultiPlatformIndexOptions extends PushCommon {
  /** Default: linux/amd64 and linux/arm64. */
  platforms?: Platform[];
  /** Size of a random `/shoal/big.bin` per platform, in MiB; 0 (default) omits it. */
  bigLayerMiB?: number;
  format?: ManifestFormat;
}

/** Options for {@link pushModelArtifact}. */
export interface ModelArtifactOptions extends PushCommon {
  /** Size of the model blob in MiB (fractions allowed). */
  sizeMiB: number;
  /** Default `application/vnd.shoal.model.v1`. */
  artifactType?: string;
  /** Default `application/vnd.shoal.model.config.v1+json`. */
  configMediaType?: string;
  /** Default `application/octet-stream` (raw bytes, not a tar). */
  layerMediaType?: string;
  /** Default `model.safetensors`. */
  fileName?: string;
}

const MiB = 1024 * 1024;
const FIXED_CREATED = '2020-01-01T00:00:00Z';
const TITLE = 'org.opencontainers.image.title';

/** The platform of this machine in OCI terms (what containerd picks from an index). */
export function hostPlatform(): Platform {
  const arch = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[
    process.arch
  ];
  return { os: 'linux', architecture: arch ?? process.arch };
}

function plainDescriptor(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.annotations) out.annotations = d.annotations;
  return out;
}

function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function textFile(path: string, content: string): { entry: TarEntry; file: ImageFile } {
  return {
    entry: { type: 'file', path: path.replace(/^\//, ''), content },
    file: { path, size: Buffer.byteLength(content), sha256: sha256Hex(content), content },
  };
}

/** A random-content file entry whose sha256 is known once the tar has been streamed. */
function randomFile(path: string, size: number, seed: string): { entry: TarEntry; file: ImageFile } {
  const file: ImageFile = { path, size, sha256: '' };
  const entry: TarEntry = {
    type: 'file',
    path: path.replace(/^\//, ''),
    size,
    async *stream() {
      const h = createHash('sha256');
      for await (const c of pseudoRandomBytes(seed, size)) {
        h.update(c);
        yield c;
      }
      file.sha256 = h.digest('hex');
    },
  };
  return { entry, file };
}

function mediaTypes(format: ManifestFormat) {
  return format === 'docker'
    ? {
        manifest: MediaType.dockerManifest,
        index: MediaType.dockerManifestList,
        config: MediaType.dockerConfig,
        gzip: MediaType.dockerLayerGzip,
        tar: MediaType.dockerLayerTar,
      }
    : {
        manifest: MediaType.ociManifest,
        index: MediaType.ociIndex,
        config: MediaType.ociConfig,
        gzip: MediaType.ociLayerGzip,
        tar: MediaType.ociLayerTar,
      };
}

interface BuiltImage {
  manifest: Descriptor & { bytes: Buffer };
  config: Descriptor;
  layers: LayerDescriptor[];
  files: ImageFile[];
  platform: Platform;
}

/**
 * Writes one image into `layout`: a gzip base layer (`/etc/os-release`, marker
 * `/shoal/hello.txt`, `/shoal/platform.txt`), optionally a big random layer (`/shoal/big.bin`),
 * and a small gzip top layer (`/shoal/version.txt`), so layer order matters on unpack.
 */
async function buildImage(
  layout: OciLayout,
  o: {
    format: ManifestFormat;
    platform: Platform;
    seed: string;
    label: string;
    bigBytes: number;
    bigCompression: LayerCompression;
  },
): Promise<BuiltImage> {
  const mt = mediaTypes(o.format);
  const platformName = `${o.platform.os}/${o.platform.architecture}${o.platform.variant ? `/${o.platform.variant}` : ''}`;
  const osRelease = textFile('/etc/os-release', 'ID=shoal-test\nNAME="Shoal test image"\n');
  const hello = textFile('/shoal/hello.txt', `hello from ${o.label} (seed ${o.seed})\n`);
  const plat = textFile('/shoal/platform.txt', `${platformName}\n`);
  const files: ImageFile[] = [osRelease.file, hello.file, plat.file];
  const layers: LayerDescriptor[] = [];

  layers.push(
    await layout.writeLayer(
      [{ type: 'dir', path: 'etc' }, osRelease.entry, { type: 'dir', path: 'shoal' }, hello.entry, plat.entry],
      'gzip',
      mt.gzip,
    ),
  );
  if (o.bigBytes > 0) {
    const big = randomFile('/shoal/big.bin', o.bigBytes, `${o.seed}:${platformName}:big`);
    layers.push(
      await layout.writeLayer(
        [{ type: 'dir', path: 'shoal' }, big.entry],
        o.bigCompression,
        o.bigCompression === 'gzip' ? mt.gzip : mt.tar,
      ),
    );
    files.push(big.file);
  }
  const version = textFile('/shoal/version.txt', `${o.label}\n`);
  layers.push(await layout.writeLayer([{ type: 'dir', path: 'shoal' }, version.entry], 'gzip', mt.gzip));
  files.push(version.file);

  const configJson = {
    created: FIXED_CREATED,
    architecture: o.platform.architecture,
    ...(o.platform.variant ? { variant: o.platform.variant } : {}),
    os: o.platform.os,
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created: FIXED_CREATED, created_by: `shoal test layer ${i}` })),
  };
  const config = await layout.writeJson(configJson, mt.config);
  const manifest = await layout.writeJson(
    {
      schemaVersion: 2,
      mediaType: mt.manifest,
      config: plainDescriptor(config),
      layers: layers.map(plainDescriptor),
    },
    mt.manifest,
  );
  return { manifest, config: plainDescriptor(config), layers, files, platform: o.platform };
}

function skopeoDestArgs(target: RegistryTarget): string[] {
  const args = ['--dest-tls-verify=false'];
  if (target.auth) args.push('--dest-creds', `${target.auth.username}:${target.auth.password}`);
  return args;
}

/**
 * Pushes the manifest `top` (and, for an index, the `children`) from `layout` with skopeo,
 * preserving every digest. `--insecure-policy` so no `/etc/containers/policy.json` is needed.
 */
async function skopeoPush(
  layout: OciLayout,
  top: Descriptor,
  children: Descriptor[],
  target: RegistryTarget,
  repository: string,
  tag: string,
): Promise<void> {
  const dest = `docker://${target.host}/${repository}:${tag}`;
  const isList = children.length > 0;
  const common = ['--insecure-policy', 'copy', '--quiet', '--preserve-digests', ...skopeoDestArgs(target)];
  if (isList) common.push('--all');
  if (top.mediaType === MediaType.ociManifest || top.mediaType === MediaType.ociIndex) {
    const refName = `push-${tag}`;
    await layout.tag(top, refName);
    await run('skopeo', [...common, `oci:${layout.dir}:${refName}`, dest], { timeoutMs: 600_000 });
    return;
  }
  // Docker schema2: skopeo's dir: transport takes any manifest type. Layout: manifest.json (the
  // top manifest), <hex>.manifest.json per list instance, every blob as <hex>; hard links keep it
  // free.
  const dir = join(layout.dir, `dir-${tag}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  const hex = (d: string) => d.replace(/^sha256:/, '');
  await link(layout.blobPath(top.digest), join(dir, 'manifest.json'));
  const manifests = isList ? children : [top];
  for (const m of children) await link(layout.blobPath(m.digest), join(dir, `${hex(m.digest)}.manifest.json`));
  const seen = new Set<string>();
  for (const m of manifests) {
    const parsed = JSON.parse(await readFile(layout.blobPath(m.digest), 'utf8')) as {
      config: Descriptor;
      layers: Descriptor[];
    };
    for (const b of [parsed.config, ...parsed.layers]) {
      if (seen.has(b.digest)) continue;
      seen.add(b.digest);
      await link(layout.blobPath(b.digest), join(dir, hex(b.digest)));
    }
  }
  await run('skopeo', [...common, `dir:${dir}`, dest], { timeoutMs: 600_000 });
}

function refs(target: RegistryTarget, repository: string, tag: string, digest: string) {
  return {
    ref: `${target.host}/${repository}:${tag}`,
    refByDigest: `${target.host}/${repository}@${digest}`,
    host: target.host,
    repository,
    tag,
  };
}

/** Runs `fn` with a fresh OCI layout in a temp dir that is removed afterwards. */
async function withLayout<T>(fn: (layout: OciLayout) => Promise<T>): Promise<T> {
  const dir = await makeTempDir('image');
  try {
    return await fn(await OciLayout.create(dir));
  } finally {
    await removeDir(dir);
  }
}

/**
 * Builds and pushes a three-layer image: gzip base (`/etc/os-release`, `/shoal/hello.txt`,
 * `/shoal/platform.txt`), a layer with `bigLayerMiB` of random bytes in `/shoal/big.bin`, and a
 * gzip top layer (`/shoal/version.txt`). Defaults: repository `shoal/test`, tag `v1`,
 * the host's platform, OCI media types.
 */
export async function pushMultiLayerImage(target: RegistryTarget, opts: MultiLayerImageOptions): Promise<PushedImage> {
  const repository = opts.repository ?? 'shoal/test';
  const tag = opts.tag ?? 'v1';
  const seed = opts.seed ?? randomSeed();
  const format = opts.format ?? 'oci';
  return withLayout(async (layout) => {
    const built = await buildImage(layout, {
      format,
      platform: opts.platform ?? hostPlatform(),
      seed,
      label: `${repository}:${tag}`,
      bigBytes: Math.round(opts.bigLayerMiB * MiB),
      bigCompression: opts.bigLayerCompression ?? 'none',
    });
    const manifest = plainDescriptor(built.manifest);
    await skopeoPush(layout, manifest, [], target, repository, tag);
    return {
      ...refs(target, repository, tag, manifest.digest),
      manifest,
      config: built.config,
      layers: built.layers,
      files: built.files,
      platform: built.platform,
    };
  });
}

/**
 * Builds and pushes an image index (OCI) or manifest list (Docker) with one small image per
 * platform (default linux/amd64 + linux/arm64); each has `/shoal/platform.txt` naming its
 * platform, so a test can see which one containerd unpacked.
 */
export async function pushMultiPlatformIndex(target: RegistryTarget, opts: MultiPlatformIndexOptions = {}): Promise<PushedIndex> {
  const repository = opts.repository ?? 'shoal/multi';
  const tag = opts.tag ?? 'v1';
  const seed = opts.seed ?? randomSeed();
  const format = opts.format ?? 'oci';
  const platforms = opts.platforms ?? [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64' },
  ];
  return withLayout(async (layout) => {
    const images: PushedImage[] = [];
    const children: Descriptor[] = [];
    for (const platform of platforms) {
      const built = await buildImage(layout, {
        format,
        platform,
        seed,
        label: `${repository}:${tag}`,
        bigBytes: Math.round((opts.bigLayerMiB ?? 0) * MiB),
        bigCompression: 'none',
      });
      const manifest = plainDescriptor(built.manifest);
      children.push({ ...manifest, platform });
      images.push({
        ...refs(target, repository, tag, manifest.digest),
        ref: `${target.host}/${repository}@${manifest.digest}`,
        manifest,
        config: built.config,
        layers: built.layers,
        files: built.files,
        platform,
      });
    }
    const mt = mediaTypes(format);
    const index = plainDescriptor(
      await layout.writeJson({ schemaVersion: 2, mediaType: mt.index, manifests: children }, mt.index),
    );
    await skopeoPush(layout, index, children, target, repository, tag);
    return { ...refs(target, repository, tag, index.digest), index, images };
  });
}

/**
 * Builds and pushes a model as an OCI artifact (image-spec 1.1 style): `artifactType` set, a
 * small JSON config of `configMediaType`, and one layer of `sizeMiB` random bytes with media
 * type `application/octet-stream` titled `model.safetensors`. containerd cannot unpack this;
 * it is for Shoal's blob-by-digest paths.
 */
export async function pushModelArtifact(target: RegistryTarget, opts: ModelArtifactOptions): Promise<PushedArtifact> {
  const repository = opts.repository ?? 'shoal/model';
  const tag = opts.tag ?? 'v1';
  const seed = opts.seed ?? randomSeed();
  const artifactType = opts.artifactType ?? 'application/vnd.shoal.model.v1';
  const fileName = opts.fileName ?? 'model.safetensors';
  return withLayout(async (layout) => {
    const size = Math.round(opts.sizeMiB * MiB);
    const blob = await layout.writeStream(
      pseudoRandomBytes(`${seed}:model`, size),
      opts.layerMediaType ?? MediaType.octetStream,
    );
    const layer: Descriptor = { mediaType: blob.mediaType, digest: blob.digest, size: blob.size, annotations: { [TITLE]: fileName } };
    const config = plainDescriptor(
      await layout.writeJson(
        { name: `${repository}:${tag}`, format: 'safetensors', files: [fileName], seed },
        opts.configMediaType ?? 'application/vnd.shoal.model.config.v1+json',
      ),
    );
    const manifest = plainDescriptor(
      await layout.writeJson(
        {
          schemaVersion: 2,
          mediaType: MediaType.ociManifest,
          artifactType,
          config,
          layers: [layer],
          annotations: { 'org.opencontainers.image.created': FIXED_CREATED },
        },
        MediaType.ociManifest,
      ),
    );
    await skopeoPush(layout, manifest, [], target, repository, tag);
    return { ...refs(target, repository, tag, manifest.digest), manifest, artifactType, config, layers: [layer] };
  });
}
