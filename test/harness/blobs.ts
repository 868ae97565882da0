import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TestBlob {
  digest: `sha256:${string}`;
  bytes: Buffer;
  /** The directory origin holding it (`<dir>/blobs/sha256/<hex>`). */
  dir: string;
}

/** Writes `size` random bytes as a blob of an OCI-layout directory origin. */
export async function writeRandomBlob(dir: string, size: number): Promise<TestBlob> {
  const bytes = randomBytes(size);
  const hex = createHash('sha256').update(bytes).digest('hex');
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'blobs', 'sha256', hex), bytes);
  return { digest: `sha256:${hex}`, bytes, dir };
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
