/// <reference path="./types/bittorrent-tracker.d.ts" />
import type { IncomingMessage, ServerResponse } from 'node:http';
import Server, { type AnnounceParams, type TrackedPeer } from 'bittorrent-tracker/server';
import type { Logger } from '@shoal/core';
import { selectHandout } from './handout.ts';

export interface AnnounceServerOptions {
  /** Seconds between announces that the tracker asks for (default 30). */
  intervalSeconds?: number;
  /** A peer that has not announced for this long is forgotten (default 4 intervals). */
  peerTtlMs?: number;
  /** Peers per blob kept (default 5,000). */
  maxPeersPerBlob?: number;
  /** Trust X-Forwarded-For (behind a proxy). */
  trustProxy?: boolean;
  /** Peer ids of this tracker's seeders, handed out last. */
  isSeeder: (peerId: string) => boolean;
  random?: () => number;
  logger: Logger;
}

/** What the tracker knows of one blob's swarm. */
export interface SwarmSummary {
  infoHash: string;
  complete: number;
  incomplete: number;
}

/**
 * The BitTorrent HTTP announce endpoint: bittorrent-tracker's Server with HTTP only (no UDP,
 * no WebSocket, no stats page), Shoal's peer handout (complete peers first, seeders last),
 * and idle swarms evicted so memory follows the blobs actually in flight. State is in memory
 * only; after a restart it is rebuilt from the next round of announces.
 */
export class AnnounceServer {
  readonly #server: Server;
  readonly #log: Logger;
  readonly #evictTimer: NodeJS.Timeout;
  readonly #emptySince = new Map<string, number>();
  readonly #peerTtlMs: number;

  constructor(options: AnnounceServerOptions) {
    const intervalSeconds = options.intervalSeconds ?? 30;
    this.#peerTtlMs = options.peerTtlMs ?? intervalSeconds * 4000;
    this.#log = options.logger;
    this.#server = new Server({
      http: false,
      udp: false,
      ws: false,
      stats: false,
      interval: intervalSeconds * 1000,
      trustProxy: options.trustProxy ?? false,
      peersCacheLength: options.maxPeersPerBlob ?? 5000,
      peersCacheTtl: this.#peerTtlMs,
    });
    const random = options.random ?? Math.random;
    const isSeeder = options.isSeeder;
    // The stock swarm hands out random peers (and the requester itself); ours follows the
    // handout policy. Server.createSwarm is the library's documented extension point.
    class HandoutSwarm extends Server.Swarm {
      override _getPeers(numwant: number, ownPeerId: string): TrackedPeer[] {
        const peers: Array<TrackedPeer & { seeder: boolean }> = [];
        for (const key of this.peers.keys) {
          const peer = this.peers.peek(key);
          if (peer) peers.push({ ...peer, seeder: isSeeder(peer.peerId) });
        }
        return selectHandout(peers, ownPeerId, numwant, random);
      }
    }
    // Two announces for a new blob in the same tick both find no swarm and both create one;
    // the stock createSwarm then replaces the first, losing its peer (often the seeder).
    this.#server.createSwarm = (infoHash, cb) => {
      process.nextTick(() => {
        const swarm = (this.#server.torrents[infoHash] ??= new HandoutSwarm(infoHash, this.#server));
        cb(null, swarm);
      });
    };
    this.#server.on('warning', (err: Error) => this.#log.debug({ err: err.message }, 'announce rejected'));
    this.#evictTimer = setInterval(() => this.#evictIdle(), Math.min(60_000, this.#peerTtlMs));
    this.#evictTimer.unref();
  }

  /** Handles GET /announce. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    res.setHeader('Content-Type', 'text/plain');
    this.#server.onHttpRequest(req, res, { action: 'announce' });
  }

  /**
   * Announces an in-process peer (the seeder) with the address other nodes should dial, which
   * an HTTP announce cannot carry: the tracker takes the address from the connection.
   */
  announceLocal(params: { infoHashHex: string; peerIdHex: string; host: string; port: number; left: number; event?: 'started' | 'completed' | 'stopped' }): void {
    const request: AnnounceParams = {
      type: 'http',
      action: 1, // ANNOUNCE
      info_hash: params.infoHashHex,
      peer_id: params.peerIdHex,
      port: params.port,
      left: params.left,
      compact: 1,
      numwant: 0,
      ip: params.host,
      addr: params.host.includes(':') ? `[${params.host}]:${params.port}` : `${params.host}:${params.port}`,
      ...(params.event ? { event: params.event } : {}),
    };
    this.#server._onRequest(request, (err) => {
      if (err) this.#log.warn({ err: err.message }, 'local announce failed');
    });
  }

  summaries(): SwarmSummary[] {
    return Object.values(this.#server.torrents).map((swarm) => ({
      infoHash: swarm.infoHash,
      complete: swarm.complete,
      incomplete: swarm.incomplete,
    }));
  }

  summary(infoHashHex: string): SwarmSummary | undefined {
    const swarm = this.#server.torrents[infoHashHex];
    return swarm && { infoHash: swarm.infoHash, complete: swarm.complete, incomplete: swarm.incomplete };
  }

  #evictIdle(): void {
    const now = Date.now();
    for (const [infoHash, swarm] of Object.entries(this.#server.torrents)) {
      // Reading the LRU's keys does not refresh entries, but stale ones are only dropped when
      // touched; peek every key so peers past their TTL are evicted before counting.
      for (const key of [...swarm.peers.keys]) swarm.peers.peek(key);
      if (swarm.peers.length > 0) {
        this.#emptySince.delete(infoHash);
        continue;
      }
      const since = this.#emptySince.get(infoHash) ?? now;
      this.#emptySince.set(infoHash, since);
      if (now - since >= this.#peerTtlMs) {
        delete this.#server.torrents[infoHash];
        this.#emptySince.delete(infoHash);
      }
    }
  }

  close(): void {
    clearInterval(this.#evictTimer);
    this.#server.close();
  }
}

