/**
 * containerd integration: the hosts.toml files that route a node's pulls through its agent.
 */
export {
  BACKUP_SUFFIX,
  HOSTS_FILE,
  configureContainerd,
  formatAction,
  undoContainerdConfig,
  type ConfigureContainerdOptions,
  type ContainerdAction,
  type ContainerdActionKind,
  type UndoContainerdOptions,
} from './configure.ts';
export {
  DEFAULT_NAMESPACE,
  DEFAULT_UPSTREAMS,
  MIRROR_CAPABILITIES,
  SHOAL_MARKER,
  hostsTomlFor,
  isShoalManaged,
  normalizeMirrorUrl,
  normalizeUpstreamUrl,
  parseHostsToml,
  renderHostsToml,
  upstreamFor,
  validateRegistryName,
  type HostCapability,
  type HostsToml,
  type HostsTomlHost,
} from './hosts-toml.ts';
