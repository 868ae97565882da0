import { createHash, randomFillSync } from 'node:crypto';
import { mkdir, open, rename } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Writes `size` pseudo-random bytes as an OCI-layout blob under `dir` and returns its
 * digest and path. The bytes come from one random 16 MiB block, each copy tagged with its
 * index so pieces differ: incompressible enough, and fast enough for multi-GiB blobs.
 */
export async function generateBlob(dir: string, size: number): Promise<{ digest: `sha256:${string}`; path: string }> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const temporary = join(blobs, `incoming-${process.pid}`);
  const file = await open(temporary, 'w');
  const block = randomFillSync(Buffer.allocUnsafe(16 << 20));
  const hash = createHash('sha256');
  for (let offset = 0, n = 0; offset < size; n++) {
    const length = Math.min(block.length, size - offset);
    block.writeUInt32BE(n, 0);
    const chunk = block.subarray(0, length);
    hash.update(chunk);
    await file.write(chunk, 0, length, offset);
    offset += length;
  }
  await file.close();
  const hex = hash.digest('hex');
  const path = join(blobs, hex);
  await rename(temporary, path);
  return { digest: `sha256:${hex}`, path };
}
