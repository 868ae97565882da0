import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../src/index.ts';

describe('TokenBucket', () => {
  it('passes everything when unlimited', async () => {
    const bucket = new TokenBucket(0);
    expect(bucket.take(1e12)).toBe(0);
    await bucket.consume(1e12);
  });

  it('reports the wait that a debt implies', () => {
    const bucket = new TokenBucket(1_000_000, 100_000);
    expect(bucket.take(100_000)).toBe(0);
    const wait = bucket.take(500_000);
    // 500 KB of debt at 1 MB/s is about half a second.
    expect(wait).toBeGreaterThan(400);
    expect(wait).toBeLessThan(510);
  });

  it('queues consumers in order and rejects them on close', async () => {
    const bucket = new TokenBucket(1_000_000, 1000);
    await bucket.consume(1000);
    const order: number[] = [];
    const first = bucket.consume(10).then(() => order.push(1));
    const second = bucket.consume(10).then(() => order.push(2));
    await Promise.all([first, second]);
    expect(order).toEqual([1, 2]);
    bucket.take(10_000_000);
    const waiting = bucket.consume(1);
    bucket.close(new Error('stopping'));
    await expect(waiting).rejects.toThrow('stopping');
  });
});
