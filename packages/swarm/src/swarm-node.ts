import { randomBytes } from 'node:crypto';
import { type AddressInfo, type Server, type Socket, createServer, connect } from 'node:net';
import { type Logger, TokenBucket, silentLogger } from '@shoal/core';
import type { BlobSwarm } from './blob-swarm.ts';
import { AGENT_PEER_ID_PREFIX, PeerConnection, SEEDER_PEER_ID_PREFIX } from './peer-connection.ts';
import { ShoalWire } from './wire.ts';

/** What an outgoing socket reads at most at once (node's own reads are 64 KiB). */
const READ_BUFFER_BYTES = 64 * 1024;

export interface SwarmNodeOptions {
  /** 'seeder' gives the node a seeder peer id, which agents count as seeder bytes. */
  role: 'agent' | 'seeder';
  /** Address the peer listener binds (default 0.0.0.0). */
  host?: string;
  /** Peer port (default 0: any free port). */
  port?: number;
  /** Node-wide download rate in bytes/s (0: unlimited). */
  downloadRate?: number;
  /** Node-wide upload rate in bytes/s (0: unlimited). */
  uploadRate?: number;
  /** Connections across all blobs (default 512). */
  maxConnections?: number;
  /** Time allowed for a peer's handshake (default 10 s). */
  handshakeTimeoutMs?: number;
  /** How long a banned peer stays banned (default 1 h). */
  banMs?: number;
  logger?: Logger;
}

/**
 * A node's presence on the BitTorrent wire: one TCP listener and the outgoing dials for every
 * blob this node swarms, node-wide download and upload token buckets, and the ban list.
 * Incoming connections are routed to a blob's swarm by the info-hash in their handshake.
 */
export class SwarmNode {
  readonly peerId: Buffer;
  readonly peerIdHex: string;
  readonly downloadBucket: TokenBucket;
  readonly uploadBucket: TokenBucket;
  readonly #options: Required<Omit<SwarmNodeOptions, 'logger'>>;
  readonly #log: Logger;
  readonly #swarms = new Map<string, BlobSwarm>();
  readonly #sockets = new Set<Socket>();
  readonly #banned = new Map<string, number>();
  /** host:port addresses that turned out to be this node. */
  readonly #self = new Set<string>();
  /** Dials under way, per blob, by address. */
  readonly #dialing = new Map<string, Set<string>>();
  #server: Server | undefined;

  constructor(options: SwarmNodeOptions) {
    this.#options = {
      role: options.role,
      host: options.host ?? '0.0.0.0',
      port: options.port ?? 0,
      downloadRate: options.downloadRate ?? 0,
      uploadRate: options.uploadRate ?? 0,
      maxConnections: options.maxConnections ?? 512,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
      banMs: options.banMs ?? 3_600_000,
    };
    this.#log = options.logger ?? silentLogger();
    const prefix = options.role === 'seeder' ? SEEDER_PEER_ID_PREFIX : AGENT_PEER_ID_PREFIX;
    this.peerId = Buffer.concat([Buffer.from(prefix, 'latin1'), randomBytes(12)]);
    this.peerIdHex = this.peerId.toString('hex');
    this.downloadBucket = new TokenBucket(this.#options.downloadRate);
    this.uploadBucket = new TokenBucket(this.#options.uploadRate);
  }

  get port(): number {
    const address = this.#server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('swarm node is not listening');
    return address.port;
  }

  get connectionCount(): number {
    return this.#sockets.size;
  }

  async start(): Promise<void> {
    const server = createServer((socket) => this.#accept(socket));
    server.maxConnections = this.#options.maxConnections;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.port, this.#options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    this.#log.info({ port: this.port, peerId: this.peerIdHex }, 'peer listener started');
  }

  async stop(): Promise<void> {
    for (const swarm of [...this.#swarms.values()]) swarm.close();
    for (const socket of this.#sockets) socket.destroy();
    this.downloadBucket.close();
    this.uploadBucket.close();
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Makes a blob's swarm reachable by its info-hash. */
  register(swarm: BlobSwarm): void {
    this.#swarms.set(swarm.infoHashHex, swarm);
    swarm.on('ban', (peerId: string, address?: string) => this.ban(peerId, address));
    swarm.once('close', () => {
      if (this.#swarms.get(swarm.infoHashHex) === swarm) this.#swarms.delete(swarm.infoHashHex);
      this.#dialing.delete(swarm.infoHashHex);
    });
  }

  ban(peerId: string, address?: string): void {
    const until = Date.now() + this.#options.banMs;
    this.#banned.set(peerId, until);
    if (address) this.#banned.set(address, until);
  }

  isBanned(key: string): boolean {
    const until = this.#banned.get(key);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.#banned.delete(key);
    return false;
  }

  /** Dials peers for a blob (addresses from the tracker), up to what the swarm wants. */
  addPeers(swarm: BlobSwarm, addresses: readonly string[]): void {
    let dialing = this.#dialing.get(swarm.infoHashHex);
    if (!dialing) this.#dialing.set(swarm.infoHashHex, (dialing = new Set()));
    const connected = new Set([...swarm.peers.values()].map((c) => c.dialAddress));
    for (const address of addresses) {
      if (swarm.peers.size + dialing.size >= swarm.maxPeers) break;
      if (this.#self.has(address) || this.isBanned(address) || dialing.has(address) || connected.has(address)) continue;
      if (this.#sockets.size >= this.#options.maxConnections) break;
      this.#dial(swarm, address, dialing);
    }
  }

  #dial(swarm: BlobSwarm, address: string, dialing: Set<string>): void {
    const split = address.lastIndexOf(':');
    const host = address.slice(0, split).replace(/^\[|\]$/g, '');
    const port = Number(address.slice(split + 1));
    dialing.add(address);
    // An outgoing socket reads into one buffer of its own instead of a new 64 KiB Buffer per
    // read: at full speed those were a GiB of garbage per GiB received, and most of an agent's
    // garbage-collection time. (Accepted sockets cannot be given one: node:net has no such
    // option for servers.)
    const received: { to: ((bytes: Uint8Array) => void) | undefined } = { to: undefined };
    const socket = connect({
      host,
      port,
      onread: {
        buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
        callback: (length, buffer) => {
          received.to?.(buffer.subarray(0, length));
          return true;
        },
      },
    });
    socket.setNoDelay(true);
    this.#track(socket);
    const done = () => dialing.delete(address);
    socket.once('close', done);
    socket.once('connect', () => {
      const wire = new ShoalWire('tcpOutgoing');
      this.#handshake(socket, wire, 'outgoing', address, swarm, received);
      wire.handshake(swarm.meta.infoHash, this.peerId, { fast: true });
    });
    socket.on('error', (err) => this.#log.debug({ peer: address, err: err.message }, 'dial failed'));
  }

  #accept(socket: Socket): void {
    socket.setNoDelay(true);
    this.#track(socket);
    socket.on('error', () => socket.destroy());
    this.#handshake(socket, new ShoalWire('tcpIncoming'), 'incoming', undefined, undefined);
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }

  /**
   * Runs the handshake with temporary plumbing, then hands socket and wire to a
   * PeerConnection. The handover happens inside the 'handshake' event, synchronously, so
   * messages that arrived in the same TCP segment (a bitfield, say) reach the connection.
   */
  #handshake(
    socket: Socket,
    wire: ShoalWire,
    direction: 'incoming' | 'outgoing',
    address: string | undefined,
    dialed: BlobSwarm | undefined,
    received?: { to: ((bytes: Uint8Array) => void) | undefined },
  ): void {
    const pumpIn = (chunk: Buffer) => wire.receive(chunk, false);
    const pumpOut = (chunk: Uint8Array) => socket.write(chunk);
    socket.on('data', pumpIn);
    if (received) received.to = (bytes) => wire.receive(bytes, true);
    wire.on('data', pumpOut);
    const timer = setTimeout(() => socket.destroy(), this.#options.handshakeTimeoutMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    wire.once('protocol-error', () => socket.destroy());
    // bittorrent-protocol ends the wire (without closing the socket) when the first bytes are
    // not a BitTorrent handshake.
    wire.once('finish', () => socket.destroy());
    wire.once('handshake', (infoHash: string, peerId: string) => {
      clearTimeout(timer);
      socket.off('data', pumpIn);
      wire.off('data', pumpOut);
      const swarm = dialed ?? this.#swarms.get(infoHash);
      const reject = (why: string) => {
        this.#log.debug({ peer: address ?? socket.remoteAddress, why }, 'refused peer');
        wire.destroy();
        socket.destroy();
      };
      if (!swarm || swarm.closed || swarm.infoHashHex !== infoHash) return reject('unknown blob');
      if (peerId === this.peerIdHex) {
        if (address) this.#self.add(address);
        return reject('connected to self');
      }
      if (this.isBanned(peerId)) return reject('banned');
      if (direction === 'incoming') wire.handshake(swarm.meta.infoHash, this.peerId, { fast: true });
      const conn = new PeerConnection({
        socket,
        wire,
        meta: swarm.meta,
        storage: swarm.storage,
        direction,
        remotePeerId: peerId,
        ...(address === undefined ? {} : { dialAddress: address }),
        downloadBucket: this.downloadBucket,
        uploadBucket: this.uploadBucket,
      });
      if (received) received.to = (bytes) => conn.receive(bytes, true);
      if (!swarm.attach(conn, this.peerIdHex)) conn.close();
    });
  }
}
