import { EventEmitter } from 'node:events';
import BitField from 'bitfield';
import { ErrorCode, type Logger, type Metainfo, type PartialBlob, isShoalError, silentLogger, errorMessage } from '@shoal/core';
import type { PeerConnection } from './peer-connection.ts';
import { PiecePicker } from './piece-picker.ts';
import type { PieceStorage } from './piece-storage.ts';
import {
  DEFAULT_MAX_PEERS,
  type PipelineLimits,
  choosePiece,
  linkToDrop,
  mayRequestBlock,
  mayStartPiece,
  pipelineLimits,
  seedOffersPerPeer,
  shouldTopUp,
} from './request-policy.ts';
import { SeedOffers } from './seed-offers.ts';
import { BLOCK_LENGTH } from './wire.ts';

/** Where a stored piece came from, for metrics and "where did my bytes come from". */
export type PieceSource = 'peer' | 'seeder';

/** Callbacks a daemon uses to count what the swarm does (metrics live in the daemons). */
export interface SwarmObserver {
  pieceStored?(source: PieceSource, bytes: number): void;
  pieceRejected?(peer: string): void;
  uploaded?(bytes: number): void;
  peerConnected?(): void;
  peerDisconnected?(): void;
}

export interface BlobSwarmOptions {
  meta: Metainfo;
  storage: PieceStorage;
  /** The partial blob being filled; its 'piece' events drive have-messages. */
  blob?: PartialBlob;
  /** Reveal pieces a few at a time, round-robin (seeders). */
  superSeed?: boolean;
  /** Connections for this blob (default 10). */
  maxPeers?: number;
  /** Pieces downloading from one peer at once (default: 3, or more when pieces are small). */
  maxPiecesPerPeer?: number;
  /** Requested-but-unanswered bytes per peer (default 8 MiB). */
  maxInflightBytesPerPeer?: number;
  random?: () => number;
  observer?: SwarmObserver;
  logger?: Logger;
}

interface PieceDownload {
  readonly index: number;
  readonly size: number;
  readonly buffer: Buffer;
  nextOffset: number;
  received: number;
  readonly outstanding: Set<number>;
  cancelled: boolean;
  /** All bytes are in; the piece is being verified and stored. */
  verifying: boolean;
}

interface PeerState {
  readonly downloads: Map<number, PieceDownload>;
  inflightBytes: number;
  /** Super-seeding: pieces revealed to this peer and not yet sent. */
  readonly offered: Set<number>;
  /** Super-seeding: pieces sent to this peer that it has not announced yet. */
  readonly unannounced: Set<number>;
}

/** Bytes of received pieces waiting to be verified and written before requests pause. */
const MAX_UNWRITTEN_BYTES = 64 << 20;

/**
 * One blob's swarm on one node: the connections to peers that have or want it, what to
 * request from each, verification and storage of what arrives, and what to tell peers.
 *
 * Every piece is checked against its sha256 (by the storage) before it is stored, served or
 * announced; a peer that sends a bad piece is dropped and reported through 'ban'. Pieces are
 * requested near active readers first, then rarest-first, then in endgame from several peers.
 *
 * Events: 'piece' (index) when a piece is stored; 'ban' (peerId, address?) after a bad
 * piece; 'failed' (error) when storage fails; 'peers' (count) when connections change;
 * 'close'.
 */
export class BlobSwarm extends EventEmitter {
  readonly meta: Metainfo;
  readonly storage: PieceStorage;
  readonly picker: PiecePicker;
  readonly maxPeers: number;
  readonly peers = new Map<string, PeerConnection>();
  readonly bytesFrom: Record<PieceSource, number> = { peer: 0, seeder: 0 };
  readonly #states = new Map<PeerConnection, PeerState>();
  readonly #offers: SeedOffers | undefined;
  /** How many connected ordinary (non-seeder) peers have each piece. */
  readonly #heldByPeers: Uint32Array;
  /** Pieces whose bytes are all in and being verified: never requested again meanwhile. */
  readonly #verifying = new Set<number>();
  readonly #limits: PipelineLimits;
  readonly #random: () => number;
  readonly #observer: SwarmObserver;
  readonly #log: Logger;
  readonly #blob: PartialBlob | undefined;
  readonly #onBlobPiece: (index: number) => void;
  #closed = false;
  #offerTimer: NodeJS.Timeout | undefined;
  #nextReaderId = 1;
  lastPieceAt = Date.now();

  constructor(options: BlobSwarmOptions) {
    super();
    this.setMaxListeners(0);
    this.meta = options.meta;
    this.storage = options.storage;
    this.maxPeers = options.maxPeers ?? DEFAULT_MAX_PEERS;
    this.#limits = pipelineLimits(this.meta.pieceLength, {
      ...(options.maxPiecesPerPeer === undefined ? {} : { maxPiecesPerPeer: options.maxPiecesPerPeer }),
      ...(options.maxInflightBytesPerPeer === undefined ? {} : { maxInflightBytesPerPeer: options.maxInflightBytesPerPeer }),
    });
    this.#random = options.random ?? Math.random;
    this.#observer = options.observer ?? {};
    this.#log = (options.logger ?? silentLogger()).child({ digest: this.meta.digest });
    this.picker = new PiecePicker(this.meta.pieceCount, { random: this.#random });
    this.#heldByPeers = new Uint32Array(this.meta.pieceCount);
    // A peer is offered a couple of pieces more than it may download at once, so its
    // pipeline never waits for the next offer. Offers start at piece 0: agents stream a blob
    // to containerd from its first byte, and with a random start the first agent's first byte
    // waited for about half the blob (5-10 s for 1 GiB on loopback) instead of one piece.
    this.#offers = options.superSeed
      ? new SeedOffers(this.meta.pieceCount, seedOffersPerPeer(this.#limits), 0)
      : undefined;
    for (let i = 0; i < this.meta.pieceCount; i++) {
      if (this.meta.isKnown(i)) this.picker.setKnown(i);
      if (this.storage.hasPiece(i)) this.picker.setHave(i);
    }
    if (this.#offers) {
      // Offers also open up with time (a piece sent to a peer that then left becomes
      // offerable again), not only on wire events: look again every second.
      this.#offerTimer = setInterval(() => {
        for (const [conn, state] of this.#states) if (state.offered.size < this.#offers!.perPeer) this.#offer(conn, state);
      }, 1000);
      this.#offerTimer.unref();
    }
    this.#blob = options.blob;
    this.#onBlobPiece = (index) => this.#onPieceStored(index);
    this.#blob?.on('piece', this.#onBlobPiece);
  }

  get infoHashHex(): string {
    return this.meta.infoHashHex;
  }

  get complete(): boolean {
    return this.picker.complete;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes still missing. */
  get bytesLeft(): number {
    let left = 0;
    for (let i = 0; i < this.meta.pieceCount; i++) if (!this.picker.hasPiece(i)) left += this.meta.pieceSize(i);
    return left;
  }

  get uploadedBytes(): number {
    let total = 0;
    for (const conn of this.peers.values()) total += conn.uploadedBytes;
    return total + this.#uploadedByClosed;
  }

  #uploadedByClosed = 0;

  /** Whether another connection for this blob would be accepted (outgoing dials check this). */
  get wantsPeers(): boolean {
    return !this.#closed && this.peers.size < this.maxPeers;
  }

  /**
   * Adopts a connection whose handshake named this blob. Returns false (and the caller
   * closes the socket) for a duplicate of an existing connection.
   */
  attach(conn: PeerConnection, ownPeerId: string): boolean {
    if (this.#closed) return false;
    const existing = this.peers.get(conn.remotePeerId);
    if (existing) {
      // Both ends may dial each other at once. Both keep the connection initiated by the
      // smaller peer id, so they agree on which one survives.
      const initiator = (c: PeerConnection) => (c.direction === 'outgoing' ? ownPeerId : c.remotePeerId);
      if (initiator(existing) <= initiator(conn)) return false;
      existing.close();
    }
    if (this.peers.size >= this.maxPeers) {
      // Full: drop a random non-seeder link to take the newcomer, which keeps the mesh random
      // as nodes arrive instead of growing in layers away from the seeders (~1.9x vs ~1.05x
      // of ideal in the piece-level model).
      const victim = linkToDrop(this.peers.values(), conn.direction, this.#random);
      if (!victim) return false;
      victim.close();
    }
    const state: PeerState = { downloads: new Map(), inflightBytes: 0, offered: new Set(), unannounced: new Set() };
    this.peers.set(conn.remotePeerId, conn);
    this.#states.set(conn, state);
    this.#observer.peerConnected?.();
    // Blocks that answer our requests are received straight into their piece buffers.
    conn.wire.blockSink = (index, offset, length) => {
      const download = state.downloads.get(index);
      if (!download || download.cancelled || !download.outstanding.has(offset)) return undefined;
      if (length !== Math.min(BLOCK_LENGTH, download.size - offset)) return undefined;
      return download.buffer.subarray(offset, offset + length);
    };
    conn.wire.setTimeout(30_000, true);
    conn.wire.setKeepAlive(true);
    this.#wireEvents(conn, state);
    this.#sendPieces(conn, state);
    this.emit('peers', this.peers.size);
    return true;
  }

  #wireEvents(conn: PeerConnection, state: PeerState): void {
    conn.on('pieces', (indices: number[]) => {
      let wanted = false;
      for (const i of indices) {
        this.picker.peerHas(i);
        if (!conn.isSeeder) this.#heldByPeers[i]!++;
        if (!this.picker.hasPiece(i)) wanted = true;
        if (state.unannounced.delete(i)) this.#offers?.arrived(i);
        if (state.offered.delete(i) && this.#offers) this.#offer(conn, state);
      }
      if (this.complete && conn.isComplete) {
        conn.close(); // two complete nodes have nothing to trade
        return;
      }
      if (wanted && !this.complete) conn.wire.interested();
      this.#fill(conn, state);
    });
    conn.on('unchoke', () => this.#fill(conn, state));
    conn.on('interested', () => conn.wire.unchoke());
    conn.on('served', (index: number, offset: number, length: number) => {
      this.#observer.uploaded?.(length);
      if (this.#offers && offset + length === this.meta.pieceSize(index)) {
        this.#offers.sent(index, Date.now());
        state.unannounced.add(index);
        if (state.offered.delete(index)) this.#offer(conn, state);
      }
    });
    conn.on('violation', (err: Error) => {
      this.#log.warn({ peer: conn.label, err: err.message }, 'peer broke the protocol');
    });
    conn.once('close', () => this.#detach(conn, state));
  }

  #sendPieces(conn: PeerConnection, state: PeerState): void {
    if (this.#offers) {
      if (conn.wire.hasFast) conn.wire.haveNone();
      this.#offer(conn, state);
      return;
    }
    if (this.picker.needed === 0 && conn.wire.hasFast) {
      conn.wire.haveAll();
      return;
    }
    if (this.picker.needed === this.meta.pieceCount) {
      if (conn.wire.hasFast) conn.wire.haveNone();
      return;
    }
    const bits = new BitField(this.meta.pieceCount);
    for (let i = 0; i < this.meta.pieceCount; i++) if (this.picker.hasPiece(i)) bits.set(i, true);
    conn.wire.bitfield(bits);
    void state;
  }

  /** Super-seeding: reveal more pieces to this peer, up to the per-peer number. */
  #offer(conn: PeerConnection, state: PeerState): void {
    const offers = this.#offers!;
    while (state.offered.size < offers.perPeer) {
      const index = offers.next({
        seederHas: (i) => this.picker.hasPiece(i),
        peerHas: (i) => conn.has(i),
        offered: state.offered,
        availability: (i) => this.picker.availability(i),
        now: Date.now(),
      });
      if (index === undefined) return;
      state.offered.add(index);
      conn.wire.have(index);
    }
  }

  #detach(conn: PeerConnection, state: PeerState): void {
    if (this.peers.get(conn.remotePeerId) === conn) this.peers.delete(conn.remotePeerId);
    this.#states.delete(conn);
    this.#uploadedByClosed += conn.uploadedBytes;
    // Copies that left with the peer are no longer on their way: offer them again at once.
    for (const index of state.unannounced) this.#offers?.lost(index);
    // Pieces being verified finish on their own; the rest go back to the picker.
    for (const download of state.downloads.values()) if (!download.verifying) this.#abandon(download);
    state.downloads.clear();
    for (let i = 0; i < this.meta.pieceCount; i++) {
      if (!conn.has(i)) continue;
      this.picker.peerLost(i);
      if (!conn.isSeeder) this.#heldByPeers[i]!--;
    }
    this.#observer.peerDisconnected?.();
    this.emit('peers', this.peers.size);
    // Pieces this peer was sending are free again: let the others pick them up.
    if (!this.#closed) for (const [other, otherState] of this.#states) this.#fill(other, otherState);
  }

  /** Requests more blocks from this peer, within its limits. */
  #fill(conn: PeerConnection, state: PeerState): void {
    if (this.#closed || conn.closed || this.complete || conn.wire.peerChoking) return;
    if (!shouldTopUp(state, this.#limits)) return;
    // The disk is behind: received pieces wait in memory to be written. Ask for more once it
    // catches up (#finish tops every peer up), so a slow disk slows the download instead of
    // filling memory.
    if (this.#verifying.size * this.meta.pieceLength >= MAX_UNWRITTEN_BYTES) return;
    while (mayRequestBlock(state, this.#limits)) {
      let download: PieceDownload | undefined;
      for (const d of state.downloads.values()) {
        if (d.nextOffset < d.size) {
          download = d;
          break;
        }
      }
      if (!download) {
        const pipeline = { pieces: state.downloads.size, inflightBytes: state.inflightBytes, unrequestedBlocks: false };
        if (!mayStartPiece(pipeline, this.#limits)) return;
        const index = choosePiece(this.picker, conn, {
          fromSeeder: conn.isSeeder,
          heldByPeers: this.#heldByPeers,
          exclude: (i) => state.downloads.has(i) || this.#verifying.has(i),
        });
        if (index === undefined) {
          if (state.downloads.size === 0) conn.wire.uninterested();
          return;
        }
        download = this.#startDownload(state, index);
      }
      this.#requestBlock(conn, state, download);
    }
  }

  #startDownload(state: PeerState, index: number): PieceDownload {
    const size = this.meta.pieceSize(index);
    const download: PieceDownload = {
      index,
      size,
      buffer: this.storage.pieceBuffer(size),
      nextOffset: 0,
      received: 0,
      outstanding: new Set(),
      cancelled: false,
      verifying: false,
    };
    state.downloads.set(index, download);
    this.picker.startDownload(index);
    return download;
  }

  #requestBlock(conn: PeerConnection, state: PeerState, download: PieceDownload): void {
    const offset = download.nextOffset;
    const length = Math.min(BLOCK_LENGTH, download.size - offset);
    download.nextOffset += length;
    download.outstanding.add(offset);
    state.inflightBytes += length;
    conn.wire.request(download.index, offset, length, (err, block) => {
      download.outstanding.delete(offset);
      state.inflightBytes -= length;
      if (download.cancelled) return;
      if (err || !block) {
        // Choked, rejected, timed out or closed: give the piece back to the picker.
        this.#abandon(download);
        state.downloads.delete(download.index);
        setImmediate(() => this.#fill(conn, state));
        return;
      }
      // Blocks received through the sink are already in place.
      if (block.buffer !== download.buffer.buffer || block.byteOffset !== download.buffer.byteOffset + offset) {
        download.buffer.set(block, offset);
      }
      download.received += length;
      if (download.received === download.size) {
        // Verification and the disk write happen off the peer's pipeline: the next piece can
        // be requested now. #verifying keeps the endgame from asking for this one again.
        download.verifying = true;
        this.#verifying.add(download.index);
        state.downloads.delete(download.index);
        void this.#finish(conn, download);
      }
      this.#fill(conn, state);
    });
  }

  /** Stops a download and returns its piece to the picker (outstanding answers are ignored). */
  #abandon(download: PieceDownload): void {
    if (download.cancelled) return;
    download.cancelled = true;
    this.picker.endDownload(download.index);
  }

  async #finish(conn: PeerConnection, download: PieceDownload): Promise<void> {
    const source: PieceSource = conn.isSeeder ? 'seeder' : 'peer';
    try {
      const stored = await this.storage.writePiece(download.index, download.buffer);
      if (stored) {
        this.bytesFrom[source] += download.size;
        this.#observer.pieceStored?.(source, download.size);
      }
    } catch (err) {
      if (isShoalError(err, ErrorCode.PIECE_MISMATCH)) {
        this.#observer.pieceRejected?.(conn.label);
        this.#log.warn({ peer: conn.label, piece: download.index }, 'bad piece from peer: dropping and banning it');
        this.emit('ban', conn.remotePeerId, conn.dialAddress);
        conn.close(err as Error);
      } else {
        this.#log.error({ err: errorMessage(err), piece: download.index }, 'cannot store piece');
        this.emit('failed', err);
      }
    } finally {
      this.#verifying.delete(download.index);
      if (!download.cancelled) {
        download.cancelled = true;
        this.picker.endDownload(download.index);
      }
      if (!this.#closed) for (const [other, state] of this.#states) this.#fill(other, state);
    }
  }

  /** A piece was stored (from a peer, the origin, or the seeder's fetch). */
  #onPieceStored(index: number): void {
    if (this.#closed) return;
    this.lastPieceAt = Date.now();
    this.picker.setHave(index);
    for (const [conn, state] of this.#states) {
      // Endgame duplicates of this piece are no longer needed.
      const duplicate = state.downloads.get(index);
      if (duplicate && !duplicate.verifying) {
        state.downloads.delete(index);
        this.#abandon(duplicate);
        for (const offset of duplicate.outstanding) {
          conn.wire.cancel(index, offset, Math.min(BLOCK_LENGTH, duplicate.size - offset));
        }
      }
      if (this.#offers) {
        if (state.offered.size < this.#offers.perPeer) this.#offer(conn, state);
      } else {
        // Even peers that have the piece hear of it: a super-seeding seeder learns this way
        // that a piece it offered us arrived from elsewhere, and offers another.
        conn.wire.have(index);
      }
    }
    this.emit('piece', index);
    if (this.complete) {
      for (const conn of this.peers.values()) {
        conn.wire.uninterested();
        if (conn.isComplete) conn.close();
      }
      this.emit('complete');
    }
  }

  /** New piece hashes arrived from the tracker (cold start): those pieces become requestable. */
  updateMetainfo(next: Metainfo): number {
    const before = this.meta.knownCount;
    this.meta.merge(next);
    if (this.meta.knownCount === before) return 0;
    for (let i = 0; i < this.meta.pieceCount; i++) if (this.meta.isKnown(i)) this.picker.setKnown(i);
    for (const [conn, state] of this.#states) this.#fill(conn, state);
    return this.meta.knownCount - before;
  }

  /**
   * Registers a reader at a byte offset; the pieces just ahead of it are requested first.
   * Returns a function that moves the reader (new offset) or, with no argument, removes it.
   */
  addReader(offset: number): (offset?: number) => void {
    const id = this.#nextReaderId++;
    this.picker.setReader(id, this.meta.pieceAt(offset));
    return (next?: number) => {
      if (next === undefined) this.picker.removeReader(id);
      else this.picker.setReader(id, this.meta.pieceAt(next));
    };
  }

  /** Rate of useful progress, for stall detection: ms since the last stored piece. */
  get idleMs(): number {
    return Date.now() - this.lastPieceAt;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#offerTimer);
    this.#blob?.off('piece', this.#onBlobPiece);
    for (const conn of [...this.peers.values()]) conn.close();
    void this.storage.close();
    this.emit('close');
  }
}
