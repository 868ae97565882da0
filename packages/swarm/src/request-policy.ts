/**
 * How a node spends its connections to one blob's peers: how much it keeps requested from
 * each peer, what it may ask of a seeder, which piece it asks for next, and which link gives
 * way to a newcomer when it is full. Pure policy, no I/O: BlobSwarm applies it to real
 * connections, and the fleet simulator in bench/ to simulated ones, so a simulated rollout
 * makes the same choices as the agent.
 */
import type { PeerPieces, PiecePicker } from './piece-picker.ts';

/** Connections per blob on an agent. */
export const DEFAULT_MAX_PEERS = 10;
/** Connections per blob on a seeder: it serves many agents, and the handout keeps most of them on each other. */
export const SEEDER_MAX_PEERS = 64;
/** Requested-but-unanswered bytes per peer. */
export const DEFAULT_MAX_INFLIGHT_BYTES_PER_PEER = 8 << 20;
/** Pieces downloading from one peer at once, at least (small pieces allow more, see pipelineLimits). */
export const MIN_PIECES_PER_PEER = 3;

/** How much a node keeps requested from one peer. */
export interface PipelineLimits {
  /** Pieces downloading from one peer at once. */
  maxPiecesPerPeer: number;
  /** Requested-but-unanswered bytes per peer. */
  maxInflightBytesPerPeer: number;
}

/**
 * The per-peer pipeline for a blob of this piece length: three pieces in flight per peer, or
 * more small ones, so that enough bytes are in flight to keep a fast link busy while each
 * piece still comes whole from one peer.
 */
export function pipelineLimits(pieceLength: number, overrides: Partial<PipelineLimits> = {}): PipelineLimits {
  const maxInflightBytesPerPeer = overrides.maxInflightBytesPerPeer ?? DEFAULT_MAX_INFLIGHT_BYTES_PER_PEER;
  const maxPiecesPerPeer = overrides.maxPiecesPerPeer ?? Math.max(MIN_PIECES_PER_PEER, Math.floor(maxInflightBytesPerPeer / pieceLength));
  return { maxPiecesPerPeer, maxInflightBytesPerPeer };
}

/**
 * Pieces a super-seeding seeder reveals to one peer at a time: a couple more than the peer
 * may download at once, so its pipeline never waits for the next offer.
 */
export function seedOffersPerPeer(limits: PipelineLimits): number {
  return limits.maxPiecesPerPeer + 2;
}

/** What a downloader has under way with one peer. */
export interface PeerPipeline {
  /** Pieces requested from the peer whose bytes are not all in yet. */
  pieces: number;
  /** Bytes requested and not yet received. */
  inflightBytes: number;
  /** Whether one of those pieces still has blocks that were not requested yet. */
  unrequestedBlocks: boolean;
}

/** Whether another block may be requested from the peer now. */
export function mayRequestBlock(pipeline: Pick<PeerPipeline, 'inflightBytes'>, limits: PipelineLimits): boolean {
  return pipeline.inflightBytes < limits.maxInflightBytesPerPeer;
}

/**
 * Whether to top up the peer's pipeline now: once a quarter of it is free. Topping up after
 * every block sends one 17-byte request per block received, each its own segment that wakes
 * the sender; a quarter at a time sends eight in one segment (at full speed on loopback that
 * was ~7% of an agent's main thread in socket writes). The pipeline never runs dry: three
 * quarters of it are still in flight when the top-up goes out.
 */
export function shouldTopUp(pipeline: Pick<PeerPipeline, 'inflightBytes'>, limits: PipelineLimits): boolean {
  return pipeline.inflightBytes <= limits.maxInflightBytesPerPeer * 0.75;
}

/**
 * Whether a new piece may be started with the peer: only once every piece under way with it
 * has all its blocks requested, within the piece and byte limits.
 */
export function mayStartPiece(pipeline: PeerPipeline, limits: PipelineLimits): boolean {
  return !pipeline.unrequestedBlocks && pipeline.pieces < limits.maxPiecesPerPeer && mayRequestBlock(pipeline, limits);
}

/**
 * What may be asked of a seeder: only pieces no connected ordinary peer has. Seeders are
 * few and serve the whole fleet; a piece that a peer can send should come from the peer, or
 * the seeder ends up sending many copies while its unique pieces wait.
 *
 * @param heldByPeers how many connected ordinary (non-seeder) peers have each piece
 */
export function seederView(seeder: PeerPieces, heldByPeers: ArrayLike<number>): PeerPieces {
  return {
    has: (i) => heldByPeers[i] === 0 && seeder.has(i),
    list: () => seeder.list()?.filter((i) => heldByPeers[i] === 0),
  };
}

export interface ChoosePieceOptions {
  /** The peer is a seeder: ask it only for pieces no ordinary peer has (see seederView). */
  fromSeeder: boolean;
  heldByPeers: ArrayLike<number>;
  /** Pieces not to ask this peer for in endgame (already requested from it, being verified). */
  exclude: (index: number) => boolean;
}

/**
 * The next piece to request from a peer: pieces near a reader, then rarest-first (the
 * picker's order) among what the peer may be asked for, else, in endgame, a piece already
 * downloading from someone else. Undefined when the peer has nothing we may ask for.
 */
export function choosePiece(picker: PiecePicker, peer: PeerPieces, options: ChoosePieceOptions): number | undefined {
  const view = options.fromSeeder ? seederView(peer, options.heldByPeers) : peer;
  return picker.pick(view) ?? picker.pickEndgame(view, options.exclude);
}

/**
 * A full node and a newcomer: the link to drop for an incoming connection (a random link to
 * an ordinary peer), or undefined when the newcomer is refused (it dialed out itself, or every
 * link is to a seeder). Dropping a random link keeps the mesh random as nodes arrive, instead
 * of letting it grow in layers away from the seeders (~1.9x vs ~1.05x of ideal in the
 * piece-level model).
 */
export function linkToDrop<T extends { readonly isSeeder: boolean }>(
  links: Iterable<T>,
  newcomer: 'incoming' | 'outgoing',
  random: () => number,
): T | undefined {
  if (newcomer === 'outgoing') return undefined;
  const candidates: T[] = [];
  for (const link of links) if (!link.isSeeder) candidates.push(link);
  return candidates[Math.floor(random() * candidates.length)];
}
