import type { PipelineLimits } from '@shoal/swarm';

/** A blob as the simulator sees it. */
export interface SimBlob {
  readonly index: number;
  readonly name: string;
  readonly size: number;
  readonly pieceLength: number;
  readonly pieceCount: number;
  readonly limits: PipelineLimits;
  readonly offersPerPeer: number;
}

/** Bytes of piece `index` (the last piece is shorter). */
export function pieceSize(blob: SimBlob, index: number): number {
  return Math.min(blob.pieceLength, blob.size - index * blob.pieceLength);
}
