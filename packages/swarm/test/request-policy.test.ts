import { describe, expect, it } from 'vitest';
import {
  PiecePicker,
  type PeerPieces,
  choosePiece,
  linkToDrop,
  mayStartPiece,
  nextAnnounceDelayMs,
  pipelineLimits,
  seedOffersPerPeer,
  seederView,
  shouldTopUp,
} from '../src/index.ts';

const peerWith = (...pieces: number[]): PeerPieces => ({ has: (i) => pieces.includes(i), list: () => pieces });

describe('request policy', () => {
  it('keeps three pieces in flight per peer, more when pieces are small', () => {
    expect(pipelineLimits(16 << 20)).toEqual({ maxPiecesPerPeer: 3, maxInflightBytesPerPeer: 8 << 20 });
    expect(pipelineLimits(1 << 20).maxPiecesPerPeer).toBe(8);
    expect(pipelineLimits(1 << 20, { maxPiecesPerPeer: 2 }).maxPiecesPerPeer).toBe(2);
    expect(seedOffersPerPeer(pipelineLimits(1 << 20))).toBe(10);
  });

  it('starts a new piece only when the pieces under way have all their blocks requested', () => {
    const limits = pipelineLimits(4 << 20);
    expect(mayStartPiece({ pieces: 0, inflightBytes: 0, unrequestedBlocks: false }, limits)).toBe(true);
    expect(mayStartPiece({ pieces: 1, inflightBytes: 1 << 20, unrequestedBlocks: true }, limits)).toBe(false);
    expect(mayStartPiece({ pieces: 3, inflightBytes: 1 << 20, unrequestedBlocks: false }, limits)).toBe(false);
    expect(mayStartPiece({ pieces: 1, inflightBytes: 8 << 20, unrequestedBlocks: false }, limits)).toBe(false);
  });

  it('tops up a pipeline a quarter at a time, so requests go out in batches', () => {
    const limits = pipelineLimits(1 << 20);
    expect(shouldTopUp({ inflightBytes: 0 }, limits)).toBe(true);
    expect(shouldTopUp({ inflightBytes: 6 << 20 }, limits)).toBe(true);
    expect(shouldTopUp({ inflightBytes: (6 << 20) + 1 }, limits)).toBe(false);
    expect(shouldTopUp({ inflightBytes: (8 << 20) - (256 << 10) }, limits)).toBe(false);
  });

  it('asks a seeder only for pieces no ordinary peer has', () => {
    const held = new Uint32Array([1, 0, 2, 0]);
    const view = seederView(peerWith(0, 1, 2, 3), held);
    expect([0, 1, 2, 3].filter((i) => view.has(i))).toEqual([1, 3]);
    expect(view.list()).toEqual([1, 3]);

    const picker = new PiecePicker(4, { random: () => 0 });
    for (let i = 0; i < 4; i++) picker.setKnown(i);
    for (let i = 0; i < 4; i++) picker.peerHas(i);
    const fromSeeder = choosePiece(picker, peerWith(0, 1, 2, 3), { fromSeeder: true, heldByPeers: new Uint32Array([1, 1, 0, 1]), exclude: () => false });
    expect(fromSeeder).toBe(2);
    expect(choosePiece(picker, peerWith(0, 1, 2, 3), { fromSeeder: true, heldByPeers: new Uint32Array([1, 1, 1, 1]), exclude: () => false })).toBeUndefined();
  });

  it('drops a random ordinary link for an incoming newcomer, never a seeder, and refuses outgoing ones', () => {
    const links = [{ isSeeder: true, id: 's' }, { isSeeder: false, id: 'a' }, { isSeeder: false, id: 'b' }];
    expect(linkToDrop(links, 'incoming', () => 0)?.id).toBe('a');
    expect(linkToDrop(links, 'incoming', () => 0.99)?.id).toBe('b');
    expect(linkToDrop(links, 'outgoing', () => 0)).toBeUndefined();
    expect(linkToDrop([links[0]!], 'incoming', () => 0)).toBeUndefined();
  });

  it('announces again soon while a node lacks peers, else at the tracker interval', () => {
    const base = { complete: false, peers: 8, maxPeers: 10, idleMs: 0, trackerIntervalMs: 30_000 };
    expect(nextAnnounceDelayMs(base)).toBe(30_000);
    expect(nextAnnounceDelayMs({ ...base, peers: 2 })).toBe(3000);
    expect(nextAnnounceDelayMs({ ...base, idleMs: 5000 })).toBe(3000);
    expect(nextAnnounceDelayMs({ ...base, peers: 0, complete: true, trackerIntervalMs: 60_000 })).toBe(30_000);
  });
});
