import { describe, expect, it } from 'vitest';
import { type HandoutPeer, selectHandout } from '../src/index.ts';

const peer = (peerId: string, complete: boolean, seeder = false): HandoutPeer => ({ peerId, complete, seeder });

describe('selectHandout', () => {
  it('lists complete peers, then downloading ones, then seeders, never the requester', () => {
    const peers = [peer('s1', true, true), peer('d1', false), peer('c1', true), peer('me', false), peer('d2', false), peer('c2', true)];
    const handout = selectHandout(peers, 'me', 50).map((p) => p.peerId);
    expect(handout.slice(0, 2).sort()).toEqual(['c1', 'c2']);
    expect(handout.slice(2, 4).sort()).toEqual(['d1', 'd2']);
    expect(handout[4]).toBe('s1');
    expect(handout).not.toContain('me');
  });

  it('keeps a seeder in a full handout when it holds no complete peer', () => {
    const peers = [peer('s1', true, true), ...Array.from({ length: 10 }, (_, i) => peer(`d${i}`, false))];
    const handout = selectHandout(peers, 'x', 5);
    expect(handout).toHaveLength(5);
    expect(handout.some((p) => p.seeder)).toBe(true);
  });

  it('leaves seeders out of a full handout of complete peers', () => {
    const peers = [peer('s1', true, true), ...Array.from({ length: 10 }, (_, i) => peer(`c${i}`, true))];
    const handout = selectHandout(peers, 'x', 5);
    expect(handout.every((p) => p.complete && !p.seeder)).toBe(true);
  });

  it('spreads handouts over all peers (random order within a group)', () => {
    const peers = Array.from({ length: 20 }, (_, i) => peer(`d${i}`, false));
    const seen = new Set<string>();
    for (let n = 0; n < 50; n++) for (const p of selectHandout(peers, 'x', 3)) seen.add(p.peerId);
    expect(seen.size).toBe(20);
  });
});
