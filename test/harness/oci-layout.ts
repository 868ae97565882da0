/** The offline OCI layout writer: shared with the benchmarks, see bench/src/lib/oci-layout.ts. */
export {
  OciLayout,
  MediaType,
  type Descriptor,
  type LayerDescriptor,
  type Platform,
  type LayerCompression,
} from '@shoal/bench/harness';
