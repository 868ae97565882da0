/** Test images pushed with skopeo: shared with the benchmarks, see bench/src/lib/images.ts. */
export {
  pushMultiLayerImage,
  pushMultiPlatformIndex,
  pushModelArtifact,
  hostPlatform,
  type RegistryTarget,
  type ManifestFormat,
  type ImageFile,
  type PushedImage,
  type PushedIndex,
  type PushedArtifact,
  type MultiLayerImageOptions,
  type MultiPlatformIndexOptions,
  type ModelArtifactOptions,
} from '@shoal/bench/harness';
