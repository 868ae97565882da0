/// <reference path="./types/bittorrent-protocol.d.ts" />
import Wire from 'bittorrent-protocol';
import { ErrorCode, ShoalError } from '@shoal/core';

/** Largest block Shoal requests and serves. */
export const BLOCK_LENGTH = 256 * 1024;

/**
 * Largest wire message accepted: a block plus its header, or a bitfield of up to 8 Mi pieces.
 * bittorrent-protocol itself accepts any length up to 4 GiB and buffers it; a peer announcing
 * more than this is dropped before a byte of the body is buffered.
 */
export const MAX_MESSAGE_LENGTH = 1024 * 1024 + 16;

/** Payload lengths (id byte included) of fixed-size messages, by message id. */
const FIXED_LENGTHS = new Map<number, number>([
  [0, 1], // choke
  [1, 1], // unchoke
  [2, 1], // interested
  [3, 1], // not interested
  [4, 5], // have
  [6, 13], // request
  [8, 13], // cancel
  [9, 3], // port
  [0x0d, 5], // suggest
  [0x0e, 1], // have all
  [0x0f, 1], // have none
  [0x10, 13], // reject
  [0x11, 5], // allowed fast
]);
const PIECE_MESSAGE = 7;
/** Id, index and offset of a piece message. */
const PIECE_HEADER = 9;

function readUInt32(buffer: Uint8Array, at: number): number {
  return ((buffer[at]! << 24) >>> 0) + (buffer[at + 1]! << 16) + (buffer[at + 2]! << 8) + buffer[at + 3]!;
}
const EXTENDED_MESSAGE = 20;

/**
 * The BitTorrent wire of bittorrent-protocol, with the receive path Shoal needs.
 *
 * The stock receive path concatenates everything buffered on every socket read, so a large
 * message costs O(n^2) copies (4 MiB blocks ran at ~356 MB/s); it also accepts any message
 * length and any payload size. This subclass assembles each message at most once (zero copies
 * when it sits inside one socket chunk), drops a peer whose message header announces more
 * than MAX_MESSAGE_LENGTH, and drops one whose fixed-size messages have the wrong size,
 * emitting 'protocol-error' (ShoalError PEER_PROTOCOL) first. Message encryption (MSE) is
 * never enabled in Shoal, so the receive path does not handle it.
 */
export class ShoalWire extends Wire {
  #chunks: Uint8Array[] = [];
  #head = 0;
  #buffered = 0;
  #closed = false;

  constructor(type: 'tcpIncoming' | 'tcpOutgoing') {
    super(type, 0);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Where the body of a piece message goes: given the block's piece, offset and length (from
   * the message header), a buffer of exactly that length to fill, or undefined to receive it
   * the ordinary way. Lets the swarm receive blocks straight into its piece buffers.
   */
  blockSink: ((index: number, offset: number, length: number) => Uint8Array | undefined) | undefined;

  /** The piece message whose body is being copied into a sink buffer. */
  #block: { index: number; offset: number; target: Uint8Array; filled: number } | undefined;
  /** The chunk being received when it is borrowed (see `receive`). */
  #borrowed: Uint8Array | undefined;

  override _write(data: Uint8Array, cb: (err?: Error | null) => void): void {
    this.receive(data, false);
    cb(null);
  }

  /**
   * Parses bytes received from the peer, synchronously. `borrowed` bytes belong to a buffer
   * the socket reuses for its next read (net.connect's `onread`): nothing keeps a view of
   * them past this call; messages and the unparsed rest are copied out. Piece bodies go
   * straight into sink buffers either way, so a socket read allocates no memory at all.
   */
  receive(data: Uint8Array, borrowed: boolean): void {
    if (this.#closed || data.length === 0) return;
    this.#chunks.push(data);
    this.#buffered += data.length;
    if (borrowed) this.#borrowed = data;
    try {
      while (!this.#closed) {
        if (this.#block) {
          if (this.#buffered === 0) break;
          this.#fillBlock(this.#block);
          continue;
        }
        if (this.#buffered < this._parserSize) break;
        const message = this.#take(this._parserSize);
        this._parser!(message);
      }
    } finally {
      if (borrowed) {
        this.#borrowed = undefined;
        // Only the last chunk can be the borrowed one: keep a copy of its unparsed rest.
        const last = this.#chunks.length - 1;
        if (last >= 0 && this.#chunks[last] === data) {
          const from = last === 0 ? this.#head : 0;
          this.#chunks[last] = Buffer.from(data.subarray(from));
          if (last === 0) this.#head = 0;
        }
      }
    }
  }

  /** Copies buffered bytes into the sink buffer; delivers the block once it is full. */
  #fillBlock(block: { index: number; offset: number; target: Uint8Array; filled: number }): void {
    while (this.#buffered > 0 && block.filled < block.target.length) {
      const chunk = this.#chunks[0]!;
      const n = Math.min(chunk.length - this.#head, block.target.length - block.filled);
      block.target.set(chunk.subarray(this.#head, this.#head + n), block.filled);
      block.filled += n;
      this.#head += n;
      this.#buffered -= n;
      if (this.#head === chunk.length) {
        this.#chunks.shift();
        this.#head = 0;
      }
    }
    if (block.filled === block.target.length) {
      this.#block = undefined;
      this._parse(4, this._onMessageLength);
      this._onPiece(block.index, block.offset, block.target);
    }
  }

  /** Removes `size` bytes from the front of the buffered chunks, copying only if they span chunks. */
  #take(size: number): Uint8Array {
    this.#buffered -= size;
    if (size === 0) return new Uint8Array(0);
    const first = this.#chunks[0]!;
    if (first.length - this.#head >= size) {
      // A view into the chunk, or a copy when the chunk is borrowed (parsers may keep it).
      const view = first.subarray(this.#head, this.#head + size);
      const message = first === this.#borrowed ? Buffer.from(view) : view;
      this.#head += size;
      if (this.#head === first.length) {
        this.#chunks.shift();
        this.#head = 0;
      }
      return message;
    }
    const message = Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      const chunk = this.#chunks[0]!;
      const n = Math.min(chunk.length - this.#head, size - filled);
      message.set(chunk.subarray(this.#head, this.#head + n), filled);
      filled += n;
      this.#head += n;
      if (this.#head === chunk.length) {
        this.#chunks.shift();
        this.#head = 0;
      }
    }
    return message;
  }

  override _onMessageLength(buffer: Uint8Array): void {
    const length = readUInt32(buffer, 0);
    if (length > MAX_MESSAGE_LENGTH) {
      this.#violation(`message of ${length} bytes exceeds the limit of ${MAX_MESSAGE_LENGTH}`);
      return;
    }
    if (length === 0 || !this.blockSink) {
      super._onMessageLength(buffer);
      return;
    }
    // Read the id and, for a piece, its index and offset first: the body may go straight
    // into a sink buffer instead of being assembled here and copied again.
    this._parse(Math.min(length, PIECE_HEADER), (head) => this.#onMessageHead(length, head));
  }

  #onMessageHead(length: number, head: Uint8Array): void {
    if (head[0] === PIECE_MESSAGE && length >= PIECE_HEADER) {
      const index = readUInt32(head, 1);
      const offset = readUInt32(head, 5);
      const target = this.blockSink?.(index, offset, length - PIECE_HEADER);
      if (target && target.length === length - PIECE_HEADER) {
        this.#block = { index, offset, target, filled: 0 };
        if (target.length === 0) this.#fillBlock(this.#block);
        return;
      }
    }
    if (length === head.length) {
      this._onMessage(head);
      return;
    }
    const start = Buffer.from(head);
    this._parse(length - head.length, (rest) => this._onMessage(Buffer.concat([start, rest])));
  }

  override _onMessage(buffer: Uint8Array): void {
    const id = buffer[0]!;
    const fixed = FIXED_LENGTHS.get(id);
    if (fixed !== undefined && buffer.length !== fixed) {
      this.#violation(`message ${id} of ${buffer.length} bytes, expected ${fixed}`);
      return;
    }
    if ((id === PIECE_MESSAGE && buffer.length < 9) || (id === EXTENDED_MESSAGE && buffer.length < 2)) {
      this.#violation(`message ${id} of ${buffer.length} bytes is truncated`);
      return;
    }
    super._onMessage(buffer);
  }

  /** Flags piece messages that answer no outstanding request ('unsolicited', bytes). */
  override _onPiece(index: number, offset: number, block: Uint8Array): void {
    const asked = this.requests.some((r) => r.piece === index && r.offset === offset && r.length === block.length);
    if (!asked) this.emit('unsolicited', block.length);
    super._onPiece(index, offset, block);
  }

  #violation(message: string): void {
    this.emit('protocol-error', new ShoalError(ErrorCode.PEER_PROTOCOL, message));
    this.destroy();
  }

  override destroy(): this {
    if (!this.#closed) {
      this.#closed = true;
      this.#chunks = [];
      this.#buffered = 0;
    }
    return super.destroy();
  }
}
