import { describe, expect, it } from 'vitest';
import { BlockPool } from '../src/block-pool.ts';

describe('BlockPool', () => {
  it('hands a released block out again, and never one that is still lent', () => {
    const pool = new BlockPool(1024, 4);
    const a = pool.acquire(1024);
    const b = pool.acquire(1024);
    expect(b).not.toBe(a);
    expect(pool.lent(a)).toBe(true);
    pool.release(a);
    expect(pool.lent(a)).toBe(false);
    const c = pool.acquire(1024);
    expect(c).toBe(a);
    expect(pool.acquire(1024)).not.toBe(b);
  });

  it('counts a release once per acquire: releasing twice cannot lend one buffer to two callers', () => {
    const pool = new BlockPool(1024, 4);
    const a = pool.acquire(1024);
    pool.release(a);
    pool.release(a);
    expect(pool.freeCount).toBe(1);
    const first = pool.acquire(1024);
    const second = pool.acquire(1024);
    expect(first).toBe(a);
    expect(second).not.toBe(a);
  });

  it('ignores buffers it did not lend and keeps at most maxFree', () => {
    const pool = new BlockPool(1024, 2);
    pool.release(Buffer.alloc(1024));
    expect(pool.freeCount).toBe(0);
    const odd = pool.acquire(100);
    expect(odd.length).toBe(100);
    expect(pool.lent(odd)).toBe(false);
    const blocks = [pool.acquire(1024), pool.acquire(1024), pool.acquire(1024)];
    for (const block of blocks) pool.release(block);
    expect(pool.freeCount).toBe(2);
  });
});
