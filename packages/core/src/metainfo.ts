import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import BitField from 'bitfield';
import { type Digest, parseDigest } from './digest.ts';
import { ErrorCode, ShoalError } from './errors.ts';

/** Length of one piece hash (sha256). */
export const PIECE_HASH_LENGTH = 32;
export const MIN_PIECE_LENGTH = 1 << 20;
export const MAX_PIECE_LENGTH = 16 << 20;
/** The largest blob Shoal accepts: 1 TiB. Bounds every size read from the network. */
export const MAX_BLOB_SIZE = 2 ** 40;

/**
 * Piece length for a blob of this size: about 1,024 pieces, a power of two between 1 and
 * 16 MiB. A rollout's start-up costs about log2(nodes) piece-times, so pieces must be small
 * next to the blob (3 GB in 4 MiB pieces: ~1.03x of ideal; in 64 MiB pieces: ~1.8x), while
 * the count stays low enough that bitfields, have-messages and the metainfo stay small.
 */
export function choosePieceLength(size: number): number {
  let length = MIN_PIECE_LENGTH;
  while (length < MAX_PIECE_LENGTH && length * 1024 < size) length *= 2;
  return length;
}

export function pieceCountOf(size: number, pieceLength: number): number {
  return size === 0 ? 0 : Math.ceil(size / pieceLength);
}

/**
 * The swarm key of a blob: 20 bytes derived from its digest and piece length. The same blob
 * pulled through any registry is one swarm; a tracker configured with another piece length
 * (during an upgrade, say) makes a separate swarm rather than mixing incompatible pieces.
 */
export function deriveInfoHash(digest: Digest, pieceLength: number): Uint8Array {
  return sha256(utf8ToBytes(`shoal-infohash-v1\n${digest}\n${pieceLength}`)).subarray(0, 20);
}

/** The JSON form served by the tracker's metainfo endpoint. */
export interface MetainfoJson {
  digest: string;
  size: number;
  pieceLength: number;
  /** base64 of the concatenated sha256 of every piece; zeros where not yet known. */
  pieces: string;
  /** base64 bitfield of the pieces whose hash is known; absent when all are. */
  known?: string;
}

/**
 * What a node must know to fetch a blob piece by piece: its size, piece length, and the
 * sha256 of every piece. Piece hashes come only from the tracker/seeder, which computed them
 * from bytes it checked against the digest. During a cold start the seeder publishes hashes
 * as it reads the origin, so some may still be unknown (`isKnown`).
 */
export class Metainfo {
  readonly digest: Digest;
  readonly size: number;
  readonly pieceLength: number;
  readonly pieceCount: number;
  readonly infoHash: Uint8Array;
  readonly infoHashHex: string;
  readonly #hashes: Uint8Array;
  #known: BitField;
  #knownCount: number;

  constructor(digest: Digest, size: number, pieceLength: number, hashes?: Uint8Array, known?: BitField) {
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_BLOB_SIZE) {
      throw new ShoalError(ErrorCode.INVALID_METAINFO, `invalid blob size ${size}`);
    }
    if (!Number.isSafeInteger(pieceLength) || pieceLength < 16 * 1024 || pieceLength > MAX_PIECE_LENGTH) {
      throw new ShoalError(ErrorCode.INVALID_METAINFO, `invalid piece length ${pieceLength}`);
    }
    this.digest = digest;
    this.size = size;
    this.pieceLength = pieceLength;
    this.pieceCount = pieceCountOf(size, pieceLength);
    this.infoHash = deriveInfoHash(digest, pieceLength);
    this.infoHashHex = Buffer.from(this.infoHash).toString('hex');
    const expected = this.pieceCount * PIECE_HASH_LENGTH;
    if (hashes !== undefined && hashes.length !== expected) {
      throw new ShoalError(
        ErrorCode.INVALID_METAINFO,
        `metainfo for ${digest} has ${hashes.length} bytes of piece hashes, expected ${expected}`,
      );
    }
    this.#hashes = hashes ?? new Uint8Array(expected);
    if (known) {
      this.#known = known;
    } else {
      this.#known = new BitField(this.pieceCount);
      if (hashes !== undefined) for (let i = 0; i < this.pieceCount; i++) this.#known.set(i, true);
    }
    this.#knownCount = 0;
    for (let i = 0; i < this.pieceCount; i++) if (this.#known.get(i)) this.#knownCount++;
  }

  pieceOffset(index: number): number {
    return index * this.pieceLength;
  }

  pieceSize(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.pieceCount) {
      throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `piece ${index} out of range 0..${this.pieceCount - 1}`);
    }
    return Math.min(this.pieceLength, this.size - index * this.pieceLength);
  }

  /** The index of the piece that holds this byte offset. */
  pieceAt(offset: number): number {
    return Math.floor(offset / this.pieceLength);
  }

  isKnown(index: number): boolean {
    return this.#known.get(index);
  }

  get knownCount(): number {
    return this.#knownCount;
  }

  get isComplete(): boolean {
    return this.#knownCount === this.pieceCount;
  }

  /** The sha256 of a piece, or undefined while the seeder has not read it yet. */
  pieceHash(index: number): Uint8Array | undefined {
    if (!this.isKnown(index)) return undefined;
    return this.#hashes.subarray(index * PIECE_HASH_LENGTH, (index + 1) * PIECE_HASH_LENGTH);
  }

  /** Records a piece hash. Only the seeder calls this, with a hash of bytes it read. */
  setPieceHash(index: number, hash: Uint8Array): void {
    this.pieceSize(index); // range check
    if (hash.length !== PIECE_HASH_LENGTH) {
      throw new ShoalError(ErrorCode.INVALID_METAINFO, `piece hash of ${hash.length} bytes`);
    }
    this.#hashes.set(hash, index * PIECE_HASH_LENGTH);
    if (!this.#known.get(index)) {
      this.#known.set(index, true);
      this.#knownCount++;
    }
  }

  /** Takes every hash that `other` knows and this one does not (same blob, same layout). */
  merge(other: Metainfo): number {
    if (other.digest !== this.digest || other.size !== this.size || other.pieceLength !== this.pieceLength) {
      throw new ShoalError(ErrorCode.INVALID_METAINFO, `metainfo update for ${this.digest} changes its layout`);
    }
    let added = 0;
    for (let i = 0; i < this.pieceCount; i++) {
      const hash = other.pieceHash(i);
      if (hash && !this.isKnown(i)) {
        this.setPieceHash(i, hash);
        added++;
      }
    }
    return added;
  }

  toJSON(): MetainfoJson {
    const json: MetainfoJson = {
      digest: this.digest,
      size: this.size,
      pieceLength: this.pieceLength,
      pieces: Buffer.from(this.#hashes.buffer, this.#hashes.byteOffset, this.#hashes.length).toString('base64'),
    };
    if (!this.isComplete) json.known = Buffer.from(this.#known.buffer).toString('base64');
    return json;
  }

  /** Parses and validates metainfo received from a tracker. */
  static fromJSON(value: unknown, expectedDigest?: Digest): Metainfo {
    if (typeof value !== 'object' || value === null) {
      throw new ShoalError(ErrorCode.INVALID_METAINFO, 'metainfo is not an object');
    }
    const json = value as Partial<MetainfoJson>;
    const digest = parseDigest(json.digest);
    if (expectedDigest !== undefined && digest !== expectedDigest) {
      throw new ShoalError(ErrorCode.INVALID_METAINFO, `metainfo is for ${digest}, expected ${expectedDigest}`);
    }
    if (typeof json.size !== 'number' || typeof json.pieceLength !== 'number' || typeof json.pieces !== 'string') {
      throw new ShoalError(ErrorCode.INVALID_METAINFO, 'metainfo lacks size, pieceLength or pieces');
    }
    const hashes = new Uint8Array(Buffer.from(json.pieces, 'base64'));
    let known: BitField | undefined;
    if (json.known !== undefined) {
      if (typeof json.known !== 'string') throw new ShoalError(ErrorCode.INVALID_METAINFO, 'metainfo.known is not a string');
      const bits = new Uint8Array(Buffer.from(json.known, 'base64'));
      const count = pieceCountOf(json.size, json.pieceLength);
      if (bits.length !== Math.ceil(count / 8)) {
        throw new ShoalError(ErrorCode.INVALID_METAINFO, `metainfo.known has ${bits.length} bytes for ${count} pieces`);
      }
      known = new BitField(bits);
    }
    return new Metainfo(digest, json.size, json.pieceLength, hashes, known);
  }
}
