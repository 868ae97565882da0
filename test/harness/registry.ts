/** A real OCI registry (distribution): shared with the benchmarks, see bench/src/lib/registry.ts. */
export { startRegistry, basicAuthHeader, type Registry, type RegistryOptions, type Credentials } from '@shoal/bench/harness';
