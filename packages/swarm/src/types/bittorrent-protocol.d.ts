// Local declarations for the parts of bittorrent-protocol (untyped JavaScript) that Shoal
// uses. Only wire.ts imports the library; everything else sees ShoalWire.
declare module 'bittorrent-protocol' {
  import type { Duplex } from 'streamx';

  interface BitFieldLike {
    get(index: number): boolean;
    set(index: number, value?: boolean): void;
    buffer: Uint8Array;
  }

  type RequestCallback = (err: Error | null, block?: Uint8Array) => void;

  export default class Wire extends Duplex {
    constructor(type?: string, peEnabled?: number);
    peerId: string | null;
    peerIdBuffer: Uint8Array | null;
    type: string;
    amChoking: boolean;
    amInterested: boolean;
    peerChoking: boolean;
    peerInterested: boolean;
    peerPieces: BitFieldLike;
    hasFast: boolean;
    requests: Array<{ piece: number; offset: number; length: number }>;
    peerRequests: Array<{ piece: number; offset: number; length: number }>;
    uploaded: number;
    downloaded: number;
    destroyed: boolean;

    handshake(infoHash: Uint8Array | string, peerId: Uint8Array | string, extensions?: { dht?: boolean; fast?: boolean }): void;
    bitfield(bitfield: BitFieldLike | Uint8Array): void;
    have(index: number): void;
    haveAll(): void;
    haveNone(): void;
    choke(): void;
    unchoke(): void;
    interested(): void;
    uninterested(): void;
    request(index: number, offset: number, length: number, cb: RequestCallback): void;
    cancel(index: number, offset: number, length: number): void;
    reject(index: number, offset: number, length: number): void;
    setTimeout(ms: number, unref?: boolean): void;
    setKeepAlive(enable: boolean): void;
    destroy(err?: Error): this;
    end(): this;

    // Receive-path internals that ShoalWire replaces (see wire.ts).
    _parserSize: number;
    _parser: ((buffer: Uint8Array) => void) | null;
    _buffer: Uint8Array[];
    _bufferSize: number;
    _encryptor: unknown;
    _cryptoSyncPattern: Uint8Array | null;
    _pePending: boolean;
    _parse(size: number, parser: (buffer: Uint8Array) => void): void;
    _onMessageLength(buffer: Uint8Array): void;
    _onMessage(buffer: Uint8Array): void;
    _onPiece(index: number, offset: number, buffer: Uint8Array): void;
    _write(data: Uint8Array, cb: (err?: Error | null) => void): void;
    _processBuffer(): void;

    on(event: 'handshake', listener: (infoHash: string, peerId: string, extensions: { fast: boolean; extended: boolean }) => void): this;
    on(event: 'bitfield', listener: (bitfield: BitFieldLike) => void): this;
    on(event: 'have', listener: (index: number) => void): this;
    on(event: 'have-all' | 'have-none' | 'choke' | 'unchoke' | 'interested' | 'uninterested' | 'timeout' | 'close' | 'finish', listener: () => void): this;
    on(event: 'request', listener: (index: number, offset: number, length: number, respond: RequestCallback) => void): this;
    on(event: 'cancel', listener: (index: number, offset: number, length: number) => void): this;
    on(event: 'error', listener: (err: Error) => void): this;
    on(event: 'unknownmessage', listener: (buffer: Uint8Array) => void): this;
    on(event: string, listener: (...args: never[]) => void): this;
  }
}

declare module 'streamx' {
  import { EventEmitter } from 'node:events';
  export class Duplex extends EventEmitter {
    push(data: Uint8Array | null): boolean;
    pipe<T extends NodeJS.WritableStream>(destination: T): T;
    write(data: Uint8Array): boolean;
    end(): this;
    destroy(err?: Error): void;
    destroyed: boolean;
    destroying: boolean;
  }
}
