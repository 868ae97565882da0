import { createHash } from 'node:crypto';
import type { Digest } from './digest.ts';

/**
 * Orders tracker replicas for a digest by rendezvous (highest-random-weight) hashing: every
 * node computes the same order from the same replica list, the first is the digest's owner,
 * and when a replica joins or leaves only the digests it owns move. Agents try replicas in
 * this order, so a dead owner's digests fail over to the same next replica everywhere.
 */
export function rankReplicas<T extends string>(digest: Digest, replicas: readonly T[]): T[] {
  const scored = replicas.map((replica) => ({
    replica,
    score: createHash('sha256').update(replica).update('\n').update(digest).digest().readBigUInt64BE(0),
  }));
  scored.sort((a, b) => (a.score === b.score ? (a.replica < b.replica ? -1 : 1) : a.score > b.score ? -1 : 1));
  return scored.map((s) => s.replica);
}
