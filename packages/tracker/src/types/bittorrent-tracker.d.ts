// Local declarations for the parts of bittorrent-tracker's server (untyped JavaScript) that
// Shoal uses. Only announce-server.ts imports it.
declare module 'bittorrent-tracker/server' {
  import { EventEmitter } from 'node:events';
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface TrackedPeer {
    type: string;
    complete: boolean;
    peerId: string;
    ip: string;
    port: number;
  }

  export interface AnnounceParams {
    type: 'http';
    action: number;
    info_hash: string;
    peer_id: string;
    port: number;
    left: number;
    compact: number;
    numwant: number;
    ip: string;
    addr: string;
    event?: string;
  }

  interface PeerCache {
    keys: string[];
    length: number;
    peek(key: string): TrackedPeer | undefined;
  }

  class Swarm {
    constructor(infoHash: string, server: Server);
    infoHash: string;
    complete: number;
    incomplete: number;
    peers: PeerCache;
    _getPeers(numwant: number, ownPeerId: string, isWebRTC: boolean): TrackedPeer[];
  }

  export default class Server extends EventEmitter {
    static Swarm: typeof Swarm;
    constructor(options: {
      http?: boolean;
      udp?: boolean;
      ws?: boolean;
      stats?: boolean;
      interval?: number;
      trustProxy?: boolean;
      peersCacheLength?: number;
      peersCacheTtl?: number;
      filter?: (infoHash: string, params: AnnounceParams, cb: (err?: Error | null) => void) => void;
    });
    torrents: Record<string, Swarm>;
    intervalMs: number;
    createSwarm(infoHash: string, cb: (err: Error | null, swarm: Swarm) => void): void;
    onHttpRequest(req: IncomingMessage, res: ServerResponse, options?: { action?: 'announce' | 'scrape'; trustProxy?: boolean }): void;
    _onRequest(params: AnnounceParams, cb: (err: Error | null, response: Record<string, unknown>) => void): void;
    close(cb?: () => void): void;
  }
}
