import type { PeerPieces } from '@shoal/swarm';
import { Flow } from './bandwidth.ts';
import { type SimBlob, pieceSize } from './sim-blob.ts';
import type { SimSwarm } from './swarm-model.ts';

/**
 * One side of a simulated connection: what the remote told us it has (PeerConnection's
 * bitfield and list), the pieces we asked it for (sent in order over `flow`), and, on a
 * seeder, the super-seeding state of the link.
 */
export class ConnectionEnd implements PeerPieces {
  readonly owner: SimSwarm;
  readonly remoteSwarm: SimSwarm;
  readonly direction: 'incoming' | 'outgoing';
  /** The remote is a seeder (PeerConnection.isSeeder). */
  readonly isSeeder: boolean;
  /** The remote's end of the same connection. */
  remote!: ConnectionEnd;
  /** Pieces requested from the remote and not yet received; the first is on the wire. */
  readonly queue: number[] = [];
  /** The transfer remote -> owner that carries `queue`. */
  readonly flow: Flow<ConnectionEnd>;
  /** Super-seeding (owner is a seeder): pieces revealed to the remote and not yet sent. */
  readonly offered = new Set<number>();
  /** Super-seeding: pieces sent to the remote that it has not announced yet. */
  readonly unannounced = new Set<number>();
  closed = false;
  /** A piece just finished on this end's flow and is being handled: do not restart the flow. */
  completing = false;
  /**
   * The last request attempt found nothing to ask the remote for (outside endgame). Until the
   * remote announces a piece we still need and nobody is sending, asking again would find
   * nothing too: the idle missing pieces only shrink, except when a connection drops or piece
   * hashes arrive, and both of those ask every connection again anyway. A shortcut of the
   * simulator (asking is the costliest thing it does), not a decision of the agent.
   */
  nothingToAsk = false;
  /** A bit per piece: fleet-scale runs hold tens of thousands of these. */
  readonly #bits: Uint32Array;
  #list: number[] | undefined = [];
  #count = 0;
  #hasAll = false;

  constructor(owner: SimSwarm, remoteSwarm: SimSwarm, direction: 'incoming' | 'outgoing') {
    this.owner = owner;
    this.remoteSwarm = remoteSwarm;
    this.direction = direction;
    this.isSeeder = remoteSwarm.isSeeder;
    this.#bits = new Uint32Array((owner.blob.pieceCount + 31) >>> 5);
    this.flow = new Flow(remoteSwarm.node, owner.node, this);
  }

  has(index: number): boolean {
    return this.#hasAll || (this.#bits[index >>> 5]! & (1 << (index & 31))) !== 0;
  }

  list(): readonly number[] | undefined {
    return this.#hasAll ? undefined : this.#list;
  }

  get isComplete(): boolean {
    return this.#hasAll || this.#count === this.owner.blob.pieceCount;
  }

  /** Records an announced piece; false if it was known already (PeerConnection ignores repeats). */
  addPiece(index: number): boolean {
    if (this.has(index)) return false;
    this.#bits[index >>> 5]! |= 1 << (index & 31);
    this.#count++;
    if (this.#list) {
      this.#list.push(index);
      // PeerConnection keeps the list only while it is short; past that the picker's buckets win.
      if (this.#list.length > 256) this.#list = undefined;
    }
    return true;
  }

  /** have-all: returns the pieces that were not known yet. */
  setAll(): number[] {
    const missing: number[] = [];
    for (let i = 0; i < this.owner.blob.pieceCount; i++) if (!this.has(i)) missing.push(i);
    this.#hasAll = true;
    this.#list = undefined;
    return missing;
  }

  /** The pieces the remote announced. */
  announced(): number[] {
    if (this.#list) return this.#list.slice();
    const pieces: number[] = [];
    for (let i = 0; i < this.owner.blob.pieceCount; i++) if (this.has(i)) pieces.push(i);
    return pieces;
  }

  /** Bytes requested from the remote and not yet received, at time `now`. */
  queuedBytes(now: number): number {
    let bytes = 0;
    for (let k = 0; k < this.queue.length; k++) {
      bytes += k === 0 && this.flow.active ? this.flow.remainingAt(now) : pieceSize(this.owner.blob, this.queue[k]!);
    }
    return bytes;
  }
}
