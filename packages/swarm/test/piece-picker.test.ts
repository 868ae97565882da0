import { describe, expect, it } from 'vitest';
import { type PeerPieces, PiecePicker } from '../src/index.ts';

function peer(pieces: number[] | 'all', count = 0): PeerPieces {
  if (pieces === 'all') return { has: (i) => i >= 0 && i < count, list: () => undefined };
  const set = new Set(pieces);
  return { has: (i) => set.has(i), list: () => pieces };
}

function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

function pickerWith(count: number): PiecePicker {
  const picker = new PiecePicker(count, { random: seeded(1) });
  for (let i = 0; i < count; i++) picker.setKnown(i);
  return picker;
}

describe('PiecePicker', () => {
  it('picks the rarest piece the peer has', () => {
    const picker = pickerWith(8);
    // Pieces 0-7 held by 3 peers, except piece 5 (1 peer) and piece 2 (2 peers).
    for (let i = 0; i < 8; i++) for (let k = 0; k < 3; k++) picker.peerHas(i);
    picker.peerLost(5);
    picker.peerLost(5);
    picker.peerLost(2);
    expect(picker.pick(peer('all', 8))).toBe(5);
    picker.startDownload(5);
    expect(picker.pick(peer('all', 8))).toBe(2);
    // A peer without those gets one of the common pieces.
    expect([0, 1, 3]).toContain(picker.pick(peer([0, 1, 3])));
  });

  it('never picks pieces it has, pieces downloading, or pieces whose hash is unknown', () => {
    const picker = new PiecePicker(4, { random: seeded(2) });
    for (let i = 0; i < 4; i++) picker.peerHas(i);
    expect(picker.pick(peer('all', 4))).toBeUndefined(); // no hash known yet
    picker.setKnown(0);
    picker.setKnown(1);
    picker.setKnown(2);
    picker.setHave(0);
    picker.startDownload(1);
    expect(picker.pick(peer('all', 4))).toBe(2);
    picker.endDownload(1);
    picker.startDownload(2);
    expect(picker.pick(peer('all', 4))).toBe(1);
  });

  it('puts the pieces right after a reader first', () => {
    const picker = pickerWith(100);
    for (let i = 0; i < 100; i++) picker.peerHas(i);
    picker.peerHas(90); // rarity would say anything but 90... all are equal except 90
    picker.setReader(1, 40);
    expect(picker.pick(peer('all', 100))).toBe(40);
    picker.startDownload(40);
    expect(picker.pick(peer('all', 100))).toBe(41);
    picker.removeReader(1);
    expect(picker.pick(peer('all', 100))).not.toBe(41);
  });

  it('enters endgame only when every missing piece is downloading', () => {
    const picker = pickerWith(3);
    for (let i = 0; i < 3; i++) picker.peerHas(i);
    picker.setHave(0);
    picker.startDownload(1);
    expect(picker.inEndgame).toBe(false);
    expect(picker.pickEndgame(peer('all', 3), () => false)).toBeUndefined();
    picker.startDownload(2);
    picker.startDownload(2);
    expect(picker.inEndgame).toBe(true);
    // Piece 1 has fewer downloads under way than piece 2.
    expect(picker.pickEndgame(peer('all', 3), () => false)).toBe(1);
    expect(picker.pickEndgame(peer('all', 3), (i) => i === 1)).toBe(2);
  });

  it('picks uniformly among equally rare pieces', () => {
    const counts = new Map<number, number>();
    const picker = pickerWith(4);
    for (let i = 0; i < 4; i++) picker.peerHas(i);
    const random = seeded(3);
    for (let n = 0; n < 4000; n++) {
      const p = new PiecePicker(4, { random });
      for (let i = 0; i < 4; i++) {
        p.setKnown(i);
        p.peerHas(i);
      }
      const pick = p.pick(peer([0, 1, 2, 3]))!;
      counts.set(pick, (counts.get(pick) ?? 0) + 1);
    }
    for (let i = 0; i < 4; i++) expect(counts.get(i)).toBeGreaterThan(800);
  });
});
