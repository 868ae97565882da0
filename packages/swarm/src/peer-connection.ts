import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import BitField from 'bitfield';
import { ErrorCode, ShoalError, type Metainfo, type TokenBucket, errorMessage } from '@shoal/core';
import type { PeerPieces } from './piece-picker.ts';
import { type PieceStorage, uploadBlocks } from './piece-storage.ts';
import { BLOCK_LENGTH, type ShoalWire } from './wire.ts';

/** Peer ids are 20 bytes: `-SA0100-` (agents) or `-SS0100-` (seeders) and 12 random bytes. */
export const AGENT_PEER_ID_PREFIX = '-SA0100-';
export const SEEDER_PEER_ID_PREFIX = '-SS0100-';

/** Requests a peer may queue with us before it is treated as abusive. */
export const MAX_QUEUED_REQUESTS = 256;
/** Bytes queued in the socket before uploads wait for it to drain. */
const OUTBOUND_HIGH_WATER = 2 << 20;
/** Piece bytes a peer may send unasked (late answers to cancelled requests) before it is dropped. */
const MAX_UNSOLICITED_BYTES = 16 << 20;

export interface PeerConnectionOptions {
  socket: Socket;
  wire: ShoalWire;
  meta: Metainfo;
  storage: PieceStorage;
  direction: 'incoming' | 'outgoing';
  remotePeerId: string;
  /** host:port the peer listens on, when known (outgoing connections). */
  dialAddress?: string;
  downloadBucket: TokenBucket;
  uploadBucket: TokenBucket;
}

interface QueuedRequest {
  index: number;
  offset: number;
  length: number;
  respond: (err: Error | null, block?: Uint8Array) => void;
  cancelled: boolean;
  /** The block, being read ahead of its turn. */
  block?: Promise<Uint8Array>;
}

/** Queued requests whose blocks are read from disk ahead of their turn. */
const READ_AHEAD_REQUESTS = 16;

/**
 * One TCP connection to a peer about one blob, after the handshake: what the peer has,
 * validation of everything it sends, rate-limited and backpressured uploads. Download
 * strategy (what to request) belongs to the BlobSwarm that owns the connection.
 *
 * Events: 'pieces' (indices: number[] | 'all') as the peer announces pieces; 'unchoke',
 * 'choke', 'interested', 'uninterested'; 'served' (index, length) after a block went out;
 * 'violation' (ShoalError) just before the connection closes for a protocol violation;
 * 'close' once.
 */
export class PeerConnection extends EventEmitter implements PeerPieces {
  readonly socket: Socket;
  readonly wire: ShoalWire;
  readonly meta: Metainfo;
  readonly direction: 'incoming' | 'outgoing';
  readonly remotePeerId: string;
  readonly remoteHost: string;
  readonly dialAddress: string | undefined;
  readonly isSeeder: boolean;
  readonly connectedAt = Date.now();
  readonly #storage: PieceStorage;
  readonly #uploadBucket: TokenBucket;
  readonly #downloadBucket: TokenBucket;
  readonly #pieces: BitField;
  #pieceList: number[] | undefined = [];
  #pieceCount = 0;
  #hasAll = false;
  readonly #queue: QueuedRequest[] = [];
  #serving = false;
  #unsolicited = 0;
  #closed = false;
  #corked = false;
  #lastReceivedAt = Date.now();
  downloadedBytes = 0;
  uploadedBytes = 0;

  constructor(options: PeerConnectionOptions) {
    super();
    this.socket = options.socket;
    this.wire = options.wire;
    this.meta = options.meta;
    this.direction = options.direction;
    this.remotePeerId = options.remotePeerId;
    this.remoteHost = options.socket.remoteAddress ?? 'unknown';
    this.dialAddress = options.dialAddress;
    this.isSeeder = Buffer.from(options.remotePeerId, 'hex').toString('latin1').startsWith(SEEDER_PEER_ID_PREFIX);
    this.#storage = options.storage;
    this.#uploadBucket = options.uploadBucket;
    this.#downloadBucket = options.downloadBucket;
    this.#pieces = new BitField(this.meta.pieceCount);
    this.#listen();
  }

  get closed(): boolean {
    return this.#closed;
  }

  get label(): string {
    return this.dialAddress ?? `${this.remoteHost}:${this.socket.remotePort}`;
  }

  get lastReceivedAt(): number {
    return this.#lastReceivedAt;
  }

  /** Number of pieces the peer has announced. */
  get pieceCount(): number {
    return this.#hasAll ? this.meta.pieceCount : this.#pieceCount;
  }

  get isComplete(): boolean {
    return this.pieceCount === this.meta.pieceCount;
  }

  has(index: number): boolean {
    return this.#hasAll || this.#pieces.get(index);
  }

  list(): readonly number[] | undefined {
    return this.#hasAll ? undefined : this.#pieceList;
  }

  /** Bytes written to the socket and not yet handed to the kernel. */
  get outboundBacklog(): number {
    return this.socket.writableLength;
  }

  close(reason?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const request of this.#queue) {
      request.cancelled = true;
      releaseUnsent(request);
    }
    this.#queue.length = 0;
    this.wire.destroy();
    this.socket.destroy();
    this.emit('close', reason);
  }

  #violation(message: string): void {
    const err = new ShoalError(ErrorCode.PEER_PROTOCOL, message, { details: { peer: this.label } });
    this.emit('violation', err);
    this.close(err);
  }

  /**
   * Bytes from the peer: from 'data' events, or, for a socket that reads into a buffer of
   * its own (`borrowed`, see ShoalWire.receive), from its `onread` callback.
   */
  receive(chunk: Uint8Array, borrowed: boolean): void {
    this.#lastReceivedAt = Date.now();
    this.wire.receive(chunk, borrowed);
    // The node-wide download rate: pausing the socket lets TCP push back on the sender.
    const wait = this.#downloadBucket.take(chunk.length);
    if (wait > 0 && !this.#closed) {
      this.socket.pause();
      setTimeout(() => {
        if (!this.#closed) this.socket.resume();
      }, wait).unref();
    }
  }

  #listen(): void {
    const { wire, socket } = this;
    socket.on('data', (chunk: Buffer) => this.receive(chunk, false));
    wire.on('data', (chunk: Uint8Array) => {
      if (this.#closed) return;
      // Everything the wire emits in one tick goes out in one writev: a block's header with
      // its body, a burst of requests as one segment.
      if (!this.#corked) {
        this.#corked = true;
        socket.cork();
        process.nextTick(() => {
          this.#corked = false;
          socket.uncork();
        });
      }
      // A block read from disk goes back to the pool once the kernel has it.
      socket.write(chunk, uploadBlocks.lent(chunk) ? () => uploadBlocks.release(chunk) : undefined);
    });
    socket.on('close', () => this.close());
    socket.on('error', () => this.close());
    socket.on('drain', () => this.#serve());
    wire.on('close', () => this.close());
    wire.on('finish', () => this.close());
    wire.on('error', () => this.close());
    wire.on('protocol-error', (err: ShoalError) => {
      this.emit('violation', err);
      this.close(err);
    });
    wire.on('timeout', () => this.close(new ShoalError(ErrorCode.PEER_PROTOCOL, `peer ${this.label} timed out`)));

    wire.on('bitfield', (bits) => {
      const expected = Math.ceil(this.meta.pieceCount / 8);
      if (bits.buffer.length !== expected) {
        this.#violation(`bitfield of ${bits.buffer.length} bytes, expected ${expected}`);
        return;
      }
      const announced: number[] = [];
      for (let i = 0; i < this.meta.pieceCount; i++) if (bits.get(i) && !this.#pieces.get(i)) announced.push(i);
      for (let i = this.meta.pieceCount; i < expected * 8; i++) {
        if (bits.get(i)) {
          this.#violation('bitfield sets bits past the last piece');
          return;
        }
      }
      for (const i of announced) this.#addPiece(i);
      if (announced.length > 0) this.emit('pieces', announced);
    });
    wire.on('have', (index) => {
      if (index >= this.meta.pieceCount) {
        this.#violation(`have for piece ${index} of ${this.meta.pieceCount}`);
        return;
      }
      if (this.has(index)) return;
      this.#addPiece(index);
      this.emit('pieces', [index]);
    });
    wire.on('have-all', () => {
      if (this.#hasAll) return;
      const missing: number[] = [];
      for (let i = 0; i < this.meta.pieceCount; i++) if (!this.#pieces.get(i)) missing.push(i);
      this.#hasAll = true;
      this.#pieceList = undefined;
      this.emit('pieces', missing);
    });
    wire.on('unchoke', () => this.emit('unchoke'));
    wire.on('choke', () => this.emit('choke'));
    wire.on('interested', () => this.emit('interested'));
    wire.on('uninterested', () => this.emit('uninterested'));
    wire.on('download', (bytes: number) => {
      this.downloadedBytes += bytes;
    });
    wire.on('unsolicited', (bytes: number) => this.#noteUnsolicited(bytes));
    wire.on('request', (index, offset, length, respond) => this.#onRequest(index, offset, length, respond));
    wire.on('cancel', (index, offset, length) => {
      for (const request of this.#queue) {
        if (request.index === index && request.offset === offset && request.length === length) request.cancelled = true;
      }
    });
  }

  /** Counts unasked piece bytes (late answers after a cancel); too many drops the peer. */
  #noteUnsolicited(bytes: number): void {
    this.#unsolicited += bytes;
    if (this.#unsolicited > MAX_UNSOLICITED_BYTES) this.#violation(`peer sent ${this.#unsolicited} bytes nobody asked for`);
  }

  #addPiece(index: number): void {
    this.#pieces.set(index, true);
    this.#pieceCount++;
    if (this.#pieceList) {
      this.#pieceList.push(index);
      // Past a few hundred pieces the picker's buckets beat scanning the peer's list.
      if (this.#pieceList.length > 256) this.#pieceList = undefined;
    }
  }

  #onRequest(index: number, offset: number, length: number, respond: QueuedRequest['respond']): void {
    if (index >= this.meta.pieceCount) {
      this.#violation(`request for piece ${index} of ${this.meta.pieceCount}`);
      return;
    }
    const pieceSize = this.meta.pieceSize(index);
    if (length === 0 || length > BLOCK_LENGTH || offset + length > pieceSize) {
      this.#violation(`request for ${length} bytes at ${offset} of piece ${index} (block limit ${BLOCK_LENGTH}, piece ${pieceSize})`);
      return;
    }
    if (this.#queue.length >= MAX_QUEUED_REQUESTS) {
      this.#violation(`more than ${MAX_QUEUED_REQUESTS} requests queued`);
      return;
    }
    if (!this.#storage.hasPiece(index)) {
      respond(new Error(`piece ${index} not available`));
      return;
    }
    this.#queue.push({ index, offset, length, respond, cancelled: false });
    this.#readAhead();
    this.#serve();
  }

  /** Starts disk reads for the next queued blocks, so reads overlap sends instead of alternating. */
  #readAhead(): void {
    const end = Math.min(this.#queue.length, READ_AHEAD_REQUESTS);
    for (let i = 0; i < end; i++) {
      const request = this.#queue[i]!;
      if (request.block || request.cancelled) continue;
      request.block = this.#storage.readBlock(request.index, request.offset, request.length);
      request.block.catch(() => {}); // the serve loop reports it
    }
  }

  /** Sends queued blocks in order, within the upload rate and the socket's backlog. */
  #serve(): void {
    if (this.#serving || this.#closed) return;
    this.#serving = true;
    void (async () => {
      try {
        while (!this.#closed && this.#queue.length > 0) {
          if (this.outboundBacklog > OUTBOUND_HIGH_WATER) return; // resumed on 'drain'
          const request = this.#queue.shift()!;
          this.#readAhead();
          if (request.cancelled) {
            releaseUnsent(request);
            continue;
          }
          await this.#uploadBucket.consume(request.length);
          if (this.#closed || request.cancelled) {
            releaseUnsent(request);
            continue;
          }
          const block = await (request.block ?? this.#storage.readBlock(request.index, request.offset, request.length));
          if (this.#closed || request.cancelled) {
            uploadBlocks.release(block);
            continue;
          }
          request.respond(null, block);
          this.uploadedBytes += request.length;
          this.emit('served', request.index, request.offset, request.length);
        }
      } catch (err) {
        if (!this.#closed) this.close(new Error(`upload failed: ${errorMessage(err)}`));
      } finally {
        this.#serving = false;
      }
    })();
  }
}

/** Gives the block of a request that will not be sent back to the pool, once it is read. */
function releaseUnsent(request: QueuedRequest): void {
  request.block?.then((block) => uploadBlocks.release(block), () => {});
}
