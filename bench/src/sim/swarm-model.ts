/**
 * One node's swarm for one blob, simulated: the same decisions as the agent's BlobSwarm
 * (packages/swarm/src/blob-swarm.ts), taken by the same policy code — the PiecePicker,
 * SeedOffers for super-seeding seeders, and the request policy (per-peer pipeline, what may be
 * asked of a seeder, the next piece, the link a full node drops for a newcomer) — on simulated
 * connections instead of sockets. Messages arrive at once (no latency inside a connection);
 * pieces move as flows through the FlowNetwork at the links' max-min fair rates.
 *
 * Read it next to BlobSwarm: each handler here names the BlobSwarm method it mirrors.
 */
import type { FlowNetwork } from './bandwidth.ts';
import { ConnectionEnd } from './connection-end.ts';
import { PiecePicker, SeedOffers, choosePiece, linkToDrop, mayStartPiece } from './policies.ts';
import { type SimBlob, pieceSize } from './sim-blob.ts';

export { ConnectionEnd, type SimBlob, pieceSize };

/** What a swarm needs from the simulation around it. */
export interface SimContext {
  /** Simulated time, seconds. */
  readonly now: number;
  readonly random: () => number;
  readonly network: FlowNetwork;
  /** Runs `action` at `time` (seconds). */
  schedule(time: number, action: () => void): void;
  /** (Re)schedules the arrival of the piece on the wire of `end` (its rate or piece changed). */
  scheduleArrival(end: ConnectionEnd): void;
  swarmCompleted(swarm: SimSwarm): void;
  /** Bytes sent and then thrown away (cancelled endgame duplicates, dropped connections). */
  wastedBytes: number;
}

/** Bytes a swarm stored, by where they came from. */
export interface SimBytes {
  peer: number;
  seeder: number;
  origin: number;
}

/** One node's swarm for one blob (BlobSwarm). */
export class SimSwarm {
  readonly node: number;
  readonly peerId: string;
  readonly blob: SimBlob;
  readonly isSeeder: boolean;
  readonly maxPeers: number;
  readonly picker: PiecePicker;
  /** Connected ordinary (non-seeder) peers that have each piece. */
  readonly heldByPeers: Uint32Array;
  readonly offers: SeedOffers | undefined;
  /** Connections by remote swarm, in the order they were made. */
  readonly ends = new Map<SimSwarm, ConnectionEnd>();
  /** Swarms being dialed. */
  readonly dialing = new Set<SimSwarm>();
  readonly bytes: SimBytes = { peer: 0, seeder: 0, origin: 0 };
  uploaded = 0;
  startedAt: number;
  completeAt: number | undefined;
  lastPieceAt: number;
  readonly #context: SimContext;

  constructor(context: SimContext, node: number, blob: SimBlob, options: { seeder: boolean; maxPeers: number; known: boolean; have: boolean }) {
    this.#context = context;
    this.node = node;
    this.peerId = `n${node}`;
    this.blob = blob;
    this.isSeeder = options.seeder;
    this.maxPeers = options.maxPeers;
    this.picker = new PiecePicker(blob.pieceCount, { random: context.random });
    this.heldByPeers = new Uint32Array(blob.pieceCount);
    this.offers = options.seeder ? new SeedOffers(blob.pieceCount, blob.offersPerPeer, Math.floor(context.random() * blob.pieceCount)) : undefined;
    for (let i = 0; i < blob.pieceCount; i++) {
      if (options.known) this.picker.setKnown(i);
      if (options.have) this.picker.setHave(i);
    }
    this.startedAt = context.now;
    this.lastPieceAt = context.now;
    if (this.picker.complete) this.completeAt = context.now;
  }

  get complete(): boolean {
    return this.picker.complete;
  }

  /** Whether another connection would be accepted (BlobSwarm.wantsPeers). */
  get wantsPeers(): boolean {
    return this.ends.size < this.maxPeers;
  }

  // --- connections (BlobSwarm.attach / #detach) ---

  /**
   * Connects a dialer to an acceptor, as both ends' BlobSwarm.attach would: the acceptor,
   * when full, drops a random ordinary link for the newcomer; the dialer refuses its own
   * outgoing connection when it filled up meanwhile. Returns whether the link exists.
   */
  static connect(dialer: SimSwarm, acceptor: SimSwarm): boolean {
    if (dialer.ends.has(acceptor) || acceptor.ends.has(dialer)) return false;
    const context = dialer.#context;
    if (acceptor.ends.size >= acceptor.maxPeers) {
      const victim = linkToDrop(acceptor.ends.values(), 'incoming', context.random);
      if (!victim) return false;
      acceptor.close(victim);
    }
    if (dialer.ends.size >= dialer.maxPeers) return false;
    const outgoing = new ConnectionEnd(dialer, acceptor, 'outgoing');
    const incoming = new ConnectionEnd(acceptor, dialer, 'incoming');
    outgoing.remote = incoming;
    incoming.remote = outgoing;
    dialer.ends.set(acceptor, outgoing);
    acceptor.ends.set(dialer, incoming);
    acceptor.#sendPieces(incoming);
    dialer.#sendPieces(outgoing);
    return true;
  }

  /** Closes a connection on both sides (PeerConnection.close, then #detach at each end). */
  close(end: ConnectionEnd): void {
    if (end.closed) return;
    end.closed = true;
    end.remote.closed = true;
    this.#detach(end);
    end.remoteSwarm.#detach(end.remote);
  }

  #detach(end: ConnectionEnd): void {
    const context = this.#context;
    this.ends.delete(end.remoteSwarm);
    // Copies that left with the peer are no longer on their way: offer them again at once.
    for (const index of end.unannounced) this.offers?.lost(index);
    for (const index of end.queue) this.picker.endDownload(index);
    if (end.queue.length > 0 && end.flow.active) {
      context.wastedBytes += pieceSize(this.blob, end.queue[0]!) - end.flow.remainingAt(context.now);
    }
    end.queue.length = 0;
    end.flow.token++;
    context.network.deactivate(end.flow, context.now);
    for (const i of end.announced()) {
      this.picker.peerLost(i);
      if (!end.isSeeder) this.heldByPeers[i]!--;
    }
    // Pieces this peer was sending are free again: let the others pick them up.
    for (const other of this.ends.values()) this.fill(other);
  }

  /** What a new connection is told first (BlobSwarm.#sendPieces). */
  #sendPieces(end: ConnectionEnd): void {
    if (this.offers) {
      this.#offer(end);
      return;
    }
    if (this.picker.needed === 0) {
      end.remote.owner.#receivePieces(end.remote, end.remote.setAll()); // have-all
      return;
    }
    if (this.picker.needed === this.blob.pieceCount) return; // have-none
    const pieces: number[] = [];
    for (let i = 0; i < this.blob.pieceCount; i++) if (this.picker.hasPiece(i) && end.remote.addPiece(i)) pieces.push(i);
    end.remote.owner.#receivePieces(end.remote, pieces);
  }

  /** The remote announced pieces (the 'pieces' handler in BlobSwarm.#wireEvents). */
  #receivePieces(end: ConnectionEnd, indices: readonly number[]): void {
    if (end.closed) return;
    for (const i of indices) this.#notePiece(end, i);
    this.#afterPieces(end);
  }

  /** One have-message from the remote (#receivePieces for a single piece, without the array). */
  #receiveHave(end: ConnectionEnd, index: number): void {
    if (end.closed || !end.addPiece(index)) return;
    this.#notePiece(end, index);
    this.#afterPieces(end, index);
  }

  #notePiece(end: ConnectionEnd, i: number): void {
    this.picker.peerHas(i);
    if (!end.isSeeder) this.heldByPeers[i]!++;
    if (end.unannounced.size > 0) end.unannounced.delete(i);
    if (end.offered.size > 0 && end.offered.delete(i) && this.offers) this.#offer(end);
  }

  #afterPieces(end: ConnectionEnd, announced?: number): void {
    if (this.complete && end.isComplete) {
      this.close(end); // two complete nodes have nothing to trade
      return;
    }
    if (announced !== undefined && end.nothingToAsk && (this.picker.hasPiece(announced) || this.picker.isDownloading(announced))) return;
    this.fill(end);
  }

  /** Super-seeding: reveal more pieces to this peer, up to the per-peer number (BlobSwarm.#offer). */
  #offer(end: ConnectionEnd): void {
    const offers = this.offers!;
    while (!end.closed && end.offered.size < offers.perPeer) {
      const index = offers.next({
        seederHas: (i) => this.picker.hasPiece(i),
        peerHas: (i) => end.has(i),
        offered: end.offered,
        availability: (i) => this.picker.availability(i),
        now: this.#context.now * 1000,
      });
      if (index === undefined) return;
      end.offered.add(index);
      end.remote.owner.#receiveHave(end.remote, index);
    }
  }

  /** The periodic look at offers that opened up with time (BlobSwarm's offer timer). */
  refreshOffers(): void {
    if (!this.offers) return;
    for (const end of this.ends.values()) if (end.offered.size < this.offers.perPeer) this.#offer(end);
  }

  // --- requests (BlobSwarm.#fill) ---

  /** Requests more pieces from this peer, within the pipeline limits. */
  fill(end: ConnectionEnd): void {
    const limits = this.blob.limits;
    // (The piece-count limit is part of mayStartPiece; checked first because it is cheap.)
    if (end.closed || this.complete || end.queue.length >= limits.maxPiecesPerPeer) return;
    const context = this.#context;
    for (;;) {
      const queued = end.queuedBytes(context.now);
      const pipeline = {
        pieces: end.queue.length,
        inflightBytes: Math.min(queued, limits.maxInflightBytesPerPeer),
        unrequestedBlocks: queued > limits.maxInflightBytesPerPeer,
      };
      if (!mayStartPiece(pipeline, limits)) return;
      const index = choosePiece(this.picker, end, {
        fromSeeder: end.isSeeder,
        heldByPeers: this.heldByPeers,
        exclude: (i) => end.queue.includes(i),
      });
      end.nothingToAsk = index === undefined && !this.picker.inEndgame;
      if (index === undefined) return;
      this.picker.startDownload(index);
      end.queue.push(index);
      if (end.queue.length === 1 && !end.completing) this.startHead(end);
    }
  }

  /** Puts the first requested piece on the wire. */
  startHead(end: ConnectionEnd): void {
    const context = this.#context;
    const flow = end.flow;
    flow.token++;
    flow.remaining = pieceSize(this.blob, end.queue[0]!);
    flow.updatedAt = context.now;
    if (!flow.active) context.network.activate(flow, context.now);
    context.scheduleArrival(end);
  }

  /** The piece on the wire of `end` arrived whole (the last block's callback in BlobSwarm). */
  pieceArrived(end: ConnectionEnd): void {
    const context = this.#context;
    const index = end.queue.shift()!;
    const size = pieceSize(this.blob, index);
    end.completing = true;
    // The uploader's 'served' handler for the piece's last block.
    const uploader = end.remoteSwarm;
    uploader.uploaded += size;
    if (uploader.offers) {
      uploader.offers.sent(index, context.now * 1000);
      end.remote.unannounced.add(index);
      if (end.remote.offered.delete(index)) uploader.#offer(end.remote);
    }
    // Verified and stored (BlobSwarm.#finish).
    this.picker.endDownload(index);
    if (!this.picker.hasPiece(index)) {
      this.bytes[end.isSeeder ? 'seeder' : 'peer'] += size;
      this.pieceStored(index);
    }
    end.completing = false;
    if (end.closed) return;
    this.fill(end);
    if (end.queue.length > 0) this.startHead(end);
    else context.network.deactivate(end.flow, context.now);
  }

  /** A piece was stored, from a peer or (seeders) the origin (BlobSwarm.#onPieceStored). */
  pieceStored(index: number): void {
    const context = this.#context;
    this.lastPieceAt = context.now;
    this.picker.setHave(index);
    // (A Map iterates safely while closed connections leave it.)
    for (const end of this.ends.values()) {
      if (end.closed) continue;
      // Endgame duplicates of this piece are no longer needed.
      const k = end.queue.length > 0 ? end.queue.indexOf(index) : -1;
      if (k >= 0) this.#cancel(end, k);
      if (this.offers) {
        if (end.offered.size < this.offers.perPeer) this.#offer(end);
      } else {
        end.remote.owner.#receiveHave(end.remote, index);
      }
    }
    if (this.complete) {
      this.completeAt = context.now;
      for (const end of [...this.ends.values()]) if (end.isComplete) this.close(end);
      context.swarmCompleted(this);
    }
  }

  /** Cancels the k-th requested piece of an end. */
  #cancel(end: ConnectionEnd, k: number): void {
    const context = this.#context;
    const [index] = end.queue.splice(k, 1);
    this.picker.endDownload(index!);
    if (k > 0 || end.completing) return;
    context.wastedBytes += pieceSize(this.blob, index!) - end.flow.remainingAt(context.now);
    if (end.queue.length > 0) this.startHead(end);
    else {
      end.flow.token++;
      context.network.deactivate(end.flow, context.now);
    }
  }

  /** Newly known piece hashes (cold start: BlobSwarm.updateMetainfo). */
  learnPieces(indices: readonly number[]): void {
    for (const i of indices) this.picker.setKnown(i);
    for (const end of this.ends.values()) this.fill(end);
  }
}
