/**
 * Which piece to ask a peer for next: pieces near an active reader first, then rarest-first
 * among the peer's pieces with a random tie-break, then (endgame) pieces already downloading
 * from someone else. Pure policy, no I/O: the agent's swarm and the fleet simulator in
 * bench/ both use this class, so what the simulator predicts is what the agent does.
 *
 * Pieces we still need sit in buckets by availability (how many connected peers have them),
 * so a pick looks at the rarest pieces first instead of scanning all of them; a peer that has
 * only a few pieces is searched through its own list instead.
 */

/** What the picker needs to know of one peer. */
export interface PeerPieces {
  has(index: number): boolean;
  /** The indices the peer has, when it has few; undefined when it has many (or all). */
  list(): readonly number[] | undefined;
}

export interface PiecePickerOptions {
  /** Random source in [0, 1), seeded in simulations for reproducible runs. */
  random?: () => number;
  /** How many pieces ahead of a reader's position are picked in order (default 4). */
  readAhead?: number;
  /**
   * Endgame starts only when this few pieces are missing (default 4). With several pieces in
   * flight per peer, "every missing piece is downloading" comes true long before the end,
   * and duplicate requests then waste links (and the seeders' upload) for most of the run.
   */
  endgamePieces?: number;
}

export class PiecePicker {
  readonly pieceCount: number;
  readonly #random: () => number;
  readonly #readAhead: number;
  readonly #endgamePieces: number;
  /** Connected peers that have each piece. */
  readonly #availability: Uint32Array;
  /** Pieces this node has stored. */
  readonly #have: Uint8Array;
  /** Pieces whose hash is known (only those can be verified, so only those are picked). */
  readonly #known: Uint8Array;
  /** Downloads under way per piece. */
  readonly #downloading: Uint8Array;
  /** buckets[a] holds the needed, known, idle pieces with availability a. */
  readonly #buckets: number[][] = [[]];
  /** Position of each piece in its bucket, -1 when in none. */
  readonly #position: Int32Array;
  #needed: number;
  #downloadingCount = 0;
  /** Reader positions (piece indices) whose next pieces go first. */
  readonly #readers = new Map<number, number>();

  constructor(pieceCount: number, options: PiecePickerOptions = {}) {
    this.pieceCount = pieceCount;
    this.#random = options.random ?? Math.random;
    this.#readAhead = options.readAhead ?? 4;
    this.#endgamePieces = options.endgamePieces ?? 4;
    this.#availability = new Uint32Array(pieceCount);
    this.#have = new Uint8Array(pieceCount);
    this.#known = new Uint8Array(pieceCount);
    this.#downloading = new Uint8Array(pieceCount);
    this.#position = new Int32Array(pieceCount).fill(-1);
    this.#needed = pieceCount;
  }

  /** Pieces still missing. */
  get needed(): number {
    return this.#needed;
  }

  get complete(): boolean {
    return this.#needed === 0;
  }

  /** True when the few missing pieces are all downloading: time for endgame. */
  get inEndgame(): boolean {
    return this.#needed > 0 && this.#needed <= this.#endgamePieces && this.#downloadingCount >= this.#needed;
  }

  availability(index: number): number {
    return this.#availability[index]!;
  }

  isDownloading(index: number): boolean {
    return this.#downloading[index]! > 0;
  }

  // --- what we have and know ---

  /** The piece's hash became known: it may be picked. */
  setKnown(index: number): void {
    if (this.#known[index]) return;
    this.#known[index] = 1;
    this.#place(index);
  }

  /** The piece is stored here: never pick it again. */
  setHave(index: number): void {
    if (this.#have[index]) return;
    this.#have[index] = 1;
    this.#needed--;
    this.#unplace(index);
  }

  hasPiece(index: number): boolean {
    return this.#have[index] === 1;
  }

  // --- what peers have ---

  peerHas(index: number): void {
    this.#unplace(index);
    this.#availability[index]!++;
    this.#place(index);
  }

  peerLost(index: number): void {
    if (this.#availability[index] === 0) return;
    this.#unplace(index);
    this.#availability[index]!--;
    this.#place(index);
  }

  // --- downloads ---

  /** A download of this piece started (from one peer). */
  startDownload(index: number): void {
    if (this.#downloading[index] === 0) {
      this.#downloadingCount++;
      this.#unplace(index);
    }
    this.#downloading[index]!++;
  }

  /** A download ended (stored, failed or cancelled). */
  endDownload(index: number): void {
    if (this.#downloading[index] === 0) return;
    this.#downloading[index]!--;
    if (this.#downloading[index] === 0) {
      this.#downloadingCount--;
      this.#place(index);
    }
  }

  // --- readers ---

  /** A reader (an HTTP response streaming the blob) is at this piece. */
  setReader(id: number, piece: number): void {
    this.#readers.set(id, piece);
  }

  removeReader(id: number): void {
    this.#readers.delete(id);
  }

  // --- picking ---

  /**
   * The next piece to download from this peer, or undefined if it has nothing we need that
   * is not already downloading. Does not mark the piece: call startDownload.
   */
  pick(peer: PeerPieces): number | undefined {
    for (const position of this.#readers.values()) {
      const end = Math.min(this.pieceCount, position + this.#readAhead);
      for (let i = position; i < end; i++) if (this.#idleAndNeeded(i) && peer.has(i)) return i;
    }
    const list = peer.list();
    if (list !== undefined && list.length < 64) return this.#pickFromList(list);
    for (let a = 1; a < this.#buckets.length; a++) {
      const bucket = this.#buckets[a]!;
      if (bucket.length === 0) continue;
      const start = Math.floor(this.#random() * bucket.length);
      for (let k = 0; k < bucket.length; k++) {
        const index = bucket[(start + k) % bucket.length]!;
        if (peer.has(index)) return index;
      }
    }
    return undefined;
  }

  /**
   * In endgame, a piece already downloading elsewhere that this peer has, with the fewest
   * downloads under way; `exclude` rules out pieces (already downloading from this peer,
   * say, or fully received and being verified).
   */
  pickEndgame(peer: PeerPieces, exclude: (index: number) => boolean): number | undefined {
    if (!this.inEndgame) return undefined;
    let best: number | undefined;
    for (let i = 0; i < this.pieceCount; i++) {
      if (this.#have[i] || !this.#known[i] || this.#downloading[i] === 0 || exclude(i) || !peer.has(i)) continue;
      if (best === undefined || this.#downloading[i]! < this.#downloading[best]!) best = i;
    }
    return best;
  }

  #pickFromList(list: readonly number[]): number | undefined {
    let best: number | undefined;
    let ties = 0;
    for (const index of list) {
      if (!this.#idleAndNeeded(index)) continue;
      const a = this.#availability[index]!;
      if (best === undefined || a < this.#availability[best]!) {
        best = index;
        ties = 1;
      } else if (a === this.#availability[best]!) {
        // Reservoir sampling: each of the rarest pieces is equally likely.
        ties++;
        if (this.#random() * ties < 1) best = index;
      }
    }
    return best;
  }

  #idleAndNeeded(index: number): boolean {
    return this.#have[index] === 0 && this.#known[index] === 1 && this.#downloading[index] === 0;
  }

  #place(index: number): void {
    if (this.#position[index] !== -1 || !this.#idleAndNeeded(index)) return;
    const a = this.#availability[index]!;
    while (this.#buckets.length <= a) this.#buckets.push([]);
    const bucket = this.#buckets[a]!;
    this.#position[index] = bucket.length;
    bucket.push(index);
  }

  #unplace(index: number): void {
    const position = this.#position[index]!;
    if (position === -1) return;
    const bucket = this.#buckets[this.#availability[index]!]!;
    const last = bucket.pop()!;
    if (last !== index) {
      bucket[position] = last;
      this.#position[last] = position;
    }
    this.#position[index] = -1;
  }
}
