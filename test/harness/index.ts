/**
 * End-to-end test harness: real registry, containerd (ctr + CRI), S3 API server and a
 * BitTorrent baseline, each on 127.0.0.1 with its own temp dir, started and stopped by tests.
 * Install the binaries first with `scripts/install-testbed.sh`.
 */
export {
  startProcess,
  waitFor,
  freePort,
  makeTempDir,
  removeDir,
  run,
  runAllowFail,
  retryOnPortClash,
  type ManagedProcess,
  type ProcessExit,
  type StartProcessOptions,
  type WaitForOptions,
  type RunOptions,
  type RunResult,
} from './process.ts';
export { startRegistry, basicAuthHeader, type Registry, type RegistryOptions, type Credentials } from './registry.ts';
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
} from './images.ts';
export {
  OciLayout,
  MediaType,
  type Descriptor,
  type LayerDescriptor,
  type Platform,
  type LayerCompression,
} from './oci-layout.ts';
export { tarStream, pseudoRandomBytes, sha256OfPseudoRandom, randomSeed, type TarEntry } from './tar.ts';
export { startContainerd, type Containerd, type ContainerdOptions, type CtrPullOptions } from './containerd.ts';
export { writeHostsToml, renderHostsToml, type HostsTomlSpec, type HostsTomlMirror } from './hosts-toml.ts';
export { connectCri, type CriClient, type CriImage, type CriVersion, type CriPullOptions } from './cri.ts';
export { startS3, S3RVER_CREDENTIALS, type S3Server, type S3Options } from './s3.ts';
export {
  startTracker,
  makeTorrent,
  startAria2,
  torrentInfoHash,
  type Tracker,
  type Torrent,
  type MakeTorrentOptions,
  type Aria2Options,
  type Aria2Peer,
} from './aria2.ts';
export { startShoalTracker, startShoalAgent, scrapeMetrics, metric, SHOAL_MAIN, type ShoalDaemon } from './shoal.ts';
export { writeRandomBlob, sha256Hex, type TestBlob } from './blobs.ts';
export { startOriginServer, type OriginServer, type OriginRequest } from './origin-server.ts';
