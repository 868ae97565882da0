/**
 * Super-seeding: which pieces a seeder reveals to each peer.
 *
 * A seeder that shows every peer all its pieces ends up sending the same popular pieces to
 * many peers while others wait; with one seeder a rollout's tail grew to ~1.5x of ideal in
 * the piece-level model, against ~1.17x when the seeder offers each piece once before
 * repeating any. So a seeder advertises only a few pieces to each peer, walking all pieces
 * round-robin across peers, and reveals the next one each time it finishes sending an offered
 * piece (or the peer gets it elsewhere). After that first round it offers again only pieces
 * that no connected peer has announced (their holder left, say) and that it has not just
 * sent: a copy in flight or being verified would otherwise be sent twice, lowest index
 * first: agents stream blobs to their readers from the front, so a node that joins after
 * the first round (or a lone agent pulling a blob the seeder already holds) is offered the
 * pieces its reader waits for before the rest. Peers fetch everything else from each other.
 *
 * Pure policy, shared by the seeder and the fleet simulator.
 */
export interface OfferContext {
  seederHas(index: number): boolean;
  peerHas(index: number): boolean;
  /** Pieces already offered to this peer and not yet sent. */
  offered: ReadonlySet<number>;
  /** How many connected peers announced the piece. */
  availability(index: number): number;
  /** Current time in ms (simulated time in simulations). */
  now: number;
}

/** A piece sent this recently is assumed on its way to being announced. */
export const RESEND_AFTER_MS = 10_000;

export class SeedOffers {
  readonly pieceCount: number;
  /** How many offered-but-unsent pieces each peer holds at most. */
  readonly perPeer: number;
  readonly #timesOffered: Uint32Array;
  /** When each piece was last offered or sent (ms). */
  readonly #lastSentAt: Float64Array;
  #cursor = 0;
  #neverOffered: number;

  constructor(pieceCount: number, perPeer = 4, start = 0) {
    this.pieceCount = pieceCount;
    this.perPeer = perPeer;
    this.#timesOffered = new Uint32Array(pieceCount);
    this.#lastSentAt = new Float64Array(pieceCount).fill(-Infinity);
    this.#cursor = pieceCount === 0 ? 0 : start % pieceCount;
    this.#neverOffered = pieceCount;
  }

  timesOffered(index: number): number {
    return this.#timesOffered[index]!;
  }

  /** The seeder finished sending a piece to some peer: it is on its way to being announced. */
  sent(index: number, now: number): void {
    this.#lastSentAt[index] = now;
  }

  /**
   * A copy sent earlier was announced by its peer: from now on that peer's availability keeps
   * the piece from being offered again, and when the peer leaves it may go again at once.
   */
  arrived(index: number): void {
    this.#lastSentAt[index] = -Infinity;
  }

  /** A copy sent earlier will not be announced (its peer left): the piece may go again now. */
  lost(index: number): void {
    this.#lastSentAt[index] = -Infinity;
  }

  /** The next piece to reveal to a peer, or undefined if there is none worth offering. */
  next(context: OfferContext): number | undefined {
    const eligible = (i: number) => context.seederHas(i) && !context.peerHas(i) && !context.offered.has(i);
    if (this.#neverOffered > 0) {
      const index = this.#scan((i) => this.#timesOffered[i] === 0 && eligible(i));
      if (index !== undefined) return this.#offer(index, context.now);
    }
    const index = this.#scan(
      (i) => context.availability(i) === 0 && context.now - this.#lastSentAt[i]! >= RESEND_AFTER_MS && eligible(i),
      0,
    );
    return index === undefined ? undefined : this.#offer(index, context.now);
  }

  #scan(accept: (index: number) => boolean, from = this.#cursor): number | undefined {
    for (let k = 0; k < this.pieceCount; k++) {
      const index = (from + k) % this.pieceCount;
      if (accept(index)) return index;
    }
    return undefined;
  }

  #offer(index: number, now: number): number {
    this.#cursor = (index + 1) % this.pieceCount;
    // An offered piece counts as on its way, like a sent one: no second offer meanwhile.
    this.#lastSentAt[index] = now;
    if (this.#timesOffered[index] === 0) this.#neverOffered--;
    this.#timesOffered[index]!++;
    return index;
  }
}
