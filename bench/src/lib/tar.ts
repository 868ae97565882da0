/**
 * A minimal streaming ustar writer, enough for OCI image layers: directories and regular files
 * whose content is a Buffer or an async stream of chunks (so a 100 MiB random file never sits
 * in memory). Deterministic: fixed mtime/uid/gid, so the same entries give the same digest.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';

const BLOCK = 512;
/** ustar's 11 octal digits of size cap an entry at 8 GiB. */
const MAX_ENTRY_SIZE = 8 * 1024 ** 3 - 1;
/** 2020-01-01T00:00:00Z: any fixed value keeps layers reproducible. */
const FIXED_MTIME = 1577836800;

/** One tar entry. Paths are relative (no leading `/`), `/`-separated. */
export type TarEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; mode?: number; content: Buffer | string }
  | { type: 'file'; path: string; mode?: number; size: number; stream: () => AsyncIterable<Buffer> };

function octal(value: number, width: number): string {
  // width includes the trailing NUL
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function header(path: string, mode: number, size: number, typeflag: '0' | '5'): Buffer {
  if (size > MAX_ENTRY_SIZE) throw new Error(`tar: ${path} is larger than ustar allows`);
  const h = Buffer.alloc(BLOCK);
  let name = path;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    // ustar splits long paths at a `/` into prefix (155) + name (100).
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`tar: path too long: ${path}`);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
  }
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(FIXED_MTIME, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii'); // checksum field counts as spaces while summing
  h.write(typeflag, 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write('root', 265, 'ascii');
  h.write('root', 297, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

/** Streams a complete tar archive (entries + the two zero end blocks). */
export async function* tarStream(entries: readonly TarEntry[]): AsyncGenerator<Buffer> {
  for (const e of entries) {
    if (e.type === 'dir') {
      const p = e.path.endsWith('/') ? e.path : `${e.path}/`;
      yield header(p, e.mode ?? 0o755, 0, '5');
      continue;
    }
    if ('content' in e) {
      const body = typeof e.content === 'string' ? Buffer.from(e.content) : e.content;
      yield header(e.path, e.mode ?? 0o644, body.length, '0');
      yield body;
      const pad = (BLOCK - (body.length % BLOCK)) % BLOCK;
      if (pad) yield Buffer.alloc(pad);
      continue;
    }
    yield header(e.path, e.mode ?? 0o644, e.size, '0');
    let written = 0;
    for await (const chunk of e.stream()) {
      written += chunk.length;
      yield chunk;
    }
    if (written !== e.size) throw new Error(`tar: ${e.path} declared ${e.size} bytes, stream gave ${written}`);
    const pad = (BLOCK - (e.size % BLOCK)) % BLOCK;
    if (pad) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(BLOCK * 2);
}

/**
 * `size` pseudo-random bytes from `seed` (AES-256-CTR keystream: GB/s, unlike hashing or
 * `randomBytes` per chunk, and reproducible so two builds with one seed give one digest).
 * Random content also defeats compression, like real model weights.
 */
export async function* pseudoRandomBytes(seed: string, size: number, chunkSize = 1024 * 1024): AsyncGenerator<Buffer> {
  const key = createHash('sha256').update(`shoal-test-key:${seed}`).digest();
  const iv = createHash('sha256').update(`shoal-test-iv:${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  const zeros = Buffer.alloc(chunkSize);
  let left = size;
  while (left > 0) {
    const n = Math.min(left, chunkSize);
    yield cipher.update(n === chunkSize ? zeros : zeros.subarray(0, n));
    left -= n;
  }
}

/** A random seed for {@link pseudoRandomBytes} when reproducibility is not wanted. */
export function randomSeed(): string {
  return randomBytes(12).toString('hex');
}

/** sha256 (hex) of the bytes {@link pseudoRandomBytes} yields, without keeping them. */
export async function sha256OfPseudoRandom(seed: string, size: number): Promise<string> {
  const h = createHash('sha256');
  for await (const c of pseudoRandomBytes(seed, size)) h.update(c);
  return h.digest('hex');
}
