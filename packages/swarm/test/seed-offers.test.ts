import { describe, expect, it } from 'vitest';
import { RESEND_AFTER_MS, SeedOffers } from '../src/index.ts';

describe('SeedOffers', () => {
  const context = (offered: Set<number>, now = 0, peerHas: (i: number) => boolean = () => false, availability: (i: number) => number = () => 0) => ({
    seederHas: () => true,
    peerHas,
    offered,
    availability,
    now,
  });

  it('offers every piece once, round-robin across peers, before offering any again', () => {
    const offers = new SeedOffers(10, 2);
    const a = new Set<number>();
    const b = new Set<number>();
    const seen: number[] = [];
    for (let round = 0; round < 5; round++) {
      for (const offered of [a, b]) {
        const index = offers.next(context(offered))!;
        offered.add(index);
        seen.push(index);
        offers.sent(index, 0);
        offered.delete(index);
      }
    }
    expect([...seen].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('after the first round, offers only pieces nobody has that were not just sent', () => {
    const offers = new SeedOffers(3, 1);
    for (let i = 0; i < 3; i++) {
      const index = offers.next(context(new Set()))!;
      offers.sent(index, 0);
    }
    // Piece 1 is held by a peer; pieces 0 and 2 are not.
    const availability = (i: number) => (i === 1 ? 1 : 0);
    expect(offers.next(context(new Set(), RESEND_AFTER_MS - 1, () => false, availability))).toBeUndefined();
    const again = offers.next(context(new Set(), RESEND_AFTER_MS, () => false, availability));
    expect([0, 2]).toContain(again);
    // A copy that left with its peer may go again at once.
    const offers2 = new SeedOffers(1, 1);
    offers2.sent(offers2.next(context(new Set()))!, 0);
    expect(offers2.next(context(new Set(), 1))).toBeUndefined();
    offers2.lost(0);
    expect(offers2.next(context(new Set(), 1))).toBe(0);
  });

  it('after the first round, offers the lowest pieces first: a late reader streams from the front', () => {
    const offers = new SeedOffers(8, 2, 5);
    for (let i = 0; i < 8; i++) offers.sent(offers.next(context(new Set()))!, 0);
    // Everyone who had the blob left; a new peer that already holds piece 0 joins.
    const offered = new Set<number>();
    const late = () => offers.next(context(offered, RESEND_AFTER_MS, (i) => i === 0))!;
    offered.add(late());
    offered.add(late());
    expect([...offered]).toEqual([1, 2]);
  });

  it('may offer an announced piece again as soon as its holders are gone', () => {
    const offers = new SeedOffers(1, 1);
    offers.sent(offers.next(context(new Set()))!, 0);
    // Announced by its peer: while the peer is there, availability guards the piece...
    offers.arrived(0);
    expect(offers.next(context(new Set(), 1, () => false, () => 1))).toBeUndefined();
    // ...and once it left, a newcomer need not wait out RESEND_AFTER_MS.
    expect(offers.next(context(new Set(), 1))).toBe(0);
  });

  it('skips pieces the peer has or the seeder lacks', () => {
    const offers = new SeedOffers(4, 4);
    const index = offers.next({ ...context(new Set(), 0, (i) => i === 0), seederHas: (i: number) => i !== 1 });
    expect(index).toBe(2);
  });
});
