/** Streaming ustar and fast seeded random bytes: shared with the benchmarks, see bench/src/lib/tar.ts. */
export { tarStream, pseudoRandomBytes, sha256OfPseudoRandom, randomSeed, type TarEntry } from '@shoal/bench/harness';
