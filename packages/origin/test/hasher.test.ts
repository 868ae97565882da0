import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InOrderHasher, SingleFlight } from '../src/index.ts';
import { testBlob } from './helpers/blob-server.ts';

function shuffled(n: number, seed: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  let x = seed;
  for (let i = n - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const j = x % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

describe('InOrderHasher', () => {
  for (const thread of ['main', 'worker'] as const) {
    it(`hashes pieces added in any order (${thread} thread) and recycles every buffer`, async () => {
      const pieceLength = 4096;
      const blob = testBlob(pieceLength * 37 + 100);
      const hasher = new InOrderHasher({ size: blob.length, pieceLength, maxHeldBytes: blob.length, thread });
      let recycled = 0;
      for (const i of shuffled(hasher.pieceCount, 7)) {
        const part = blob.subarray(i * pieceLength, (i + 1) * pieceLength);
        // Buffers that own their memory, as the fetcher's pool hands out (the last one pooled, to test the copy fallback).
        const copy = i === hasher.pieceCount - 1 ? Buffer.from(part) : Buffer.allocUnsafeSlow(part.length).fill(part);
        hasher.add(i, copy, () => recycled++);
      }
      expect(await hasher.finish()).toBe(createHash('sha256').update(blob).digest('hex'));
      expect(hasher.hashedBytes).toBe(blob.length);
      expect(recycled).toBe(hasher.pieceCount);
    });
  }

  it('drops pieces beyond its budget and reads them back', async () => {
    const pieceLength = 1000;
    const blob = testBlob(10_000);
    const reads: number[] = [];
    const hasher = new InOrderHasher({
      size: blob.length,
      pieceLength,
      maxHeldBytes: 2000,
      readPiece: async (i) => {
        reads.push(i);
        return blob.subarray(i * pieceLength, (i + 1) * pieceLength);
      },
    });
    for (let i = 9; i >= 0; i--) hasher.add(i, blob.subarray(i * pieceLength, (i + 1) * pieceLength));
    expect(await hasher.finish()).toBe(createHash('sha256').update(blob).digest('hex'));
    expect(hasher.peakHeldBytes).toBeLessThanOrEqual(2000);
    expect(reads.length).toBe(7);
    expect(hasher.rereadBytes).toBe(7000);
  });

  it('refuses a piece twice or of the wrong size, and fails waiters on fail()', async () => {
    const hasher = new InOrderHasher({ size: 10, pieceLength: 4, maxHeldBytes: 100 });
    hasher.add(1, Buffer.alloc(4));
    expect(() => hasher.add(1, Buffer.alloc(4))).toThrow(/twice/);
    expect(() => hasher.add(2, Buffer.alloc(4))).toThrow(/expected 2/);
    const waiting = hasher.waitForProgress();
    hasher.fail(new Error('stop'));
    await waiting;
    await expect(hasher.finish()).rejects.toThrow('stop');
  });
});

describe('SingleFlight', () => {
  it('shares a running call per key and forgets it once settled, failures included', async () => {
    const flights = new SingleFlight<string, number>();
    let calls = 0;
    let release!: (n: number) => void;
    const a = flights.run('k', () => {
      calls++;
      return new Promise((r) => (release = r));
    });
    const b = flights.run('k', async () => {
      calls++;
      return 0;
    });
    expect(flights.has('k')).toBe(true);
    await Promise.resolve();
    release(42);
    expect(await a).toBe(42);
    expect(await b).toBe(42);
    expect(calls).toBe(1);
    expect(flights.size).toBe(0);
    await expect(
      flights.run('k', () => {
        throw new Error('sync throw');
      }),
    ).rejects.toThrow('sync throw');
    expect(flights.has('k')).toBe(false);
    expect(await flights.run('k', async () => 7)).toBe(7);
  });
});
