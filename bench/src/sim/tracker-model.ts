/**
 * The tracker of a simulated fleet: who announced which blob, and whom each announcing node
 * is told about — by the announce server's own handout policy (selectHandout).
 */
import { DEFAULT_NUMWANT, selectHandout } from './policies.ts';
import type { SimSwarm } from './swarm-model.ts';

interface TrackedPeer {
  readonly peerId: string;
  complete: boolean;
  readonly seeder: boolean;
  readonly swarm: SimSwarm;
}

export class SimTracker {
  readonly #blobs: Array<Map<string, TrackedPeer>>;
  readonly #random: () => number;

  constructor(blobCount: number, random: () => number) {
    this.#blobs = Array.from({ length: blobCount }, () => new Map());
    this.#random = random;
  }

  /**
   * Records an announce (the swarm's current completeness) and returns the peers handed out
   * to it, best first. Seeders announce too (with no peers wanted).
   */
  announce(swarm: SimSwarm, numwant = DEFAULT_NUMWANT): SimSwarm[] {
    const peers = this.#blobs[swarm.blob.index]!;
    let record = peers.get(swarm.peerId);
    if (!record) {
      record = { peerId: swarm.peerId, complete: swarm.complete, seeder: swarm.isSeeder, swarm };
      peers.set(swarm.peerId, record);
    }
    record.complete = swarm.complete;
    if (numwant === 0) return [];
    return selectHandout(peers.values(), swarm.peerId, numwant, this.#random).map((peer) => peer.swarm);
  }
}
