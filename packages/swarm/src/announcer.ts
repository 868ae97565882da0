import { type Logger, errorMessage, silentLogger } from '@shoal/core';
import type { BlobSwarm } from './blob-swarm.ts';
import type { SwarmNode } from './swarm-node.ts';
import type { TrackerClient } from './tracker-client.ts';

export interface AnnouncerOptions {
  client: TrackerClient;
  node: SwarmNode;
  swarm: BlobSwarm;
  /** Bytes this node downloaded for the blob (for the tracker's statistics). */
  downloaded: () => number;
  /** Re-announce period while the swarm wants more peers (default 3 s). */
  eagerIntervalMs?: number;
  /** Longest period between announces (default 30 s; the tracker may ask for less). */
  maxIntervalMs?: number;
  /**
   * Called when announces start going to another replica than before (the owner failed, or
   * came back): that replica may not know the blob yet, and only a metainfo request makes it
   * warm the blob and join the swarm as a seeder.
   */
  onReplicaChange?: (replica: string, previous: string) => void;
  logger?: Logger;
}

/** Re-announce period while a node wants more peers. */
export const EAGER_ANNOUNCE_MS = 3000;
/** Longest period between announces (the tracker may ask for less). */
export const MAX_ANNOUNCE_MS = 30_000;

/** What decides when a node announces next. */
export interface AnnounceState {
  complete: boolean;
  peers: number;
  maxPeers: number;
  /** ms since the last stored piece. */
  idleMs: number;
  /** The interval the tracker asked for, in ms. */
  trackerIntervalMs: number;
}

/**
 * When to announce next: soon (eagerMs) while the node lacks peers or its peers have nothing
 * new, else at the tracker's interval (within eagerMs..maxMs). Pure policy, shared with the
 * fleet simulator.
 */
export function nextAnnounceDelayMs(state: AnnounceState, eagerMs = EAGER_ANNOUNCE_MS, maxMs = MAX_ANNOUNCE_MS): number {
  const wantsPeers = !state.complete && (state.peers < Math.min(state.maxPeers, 4) || state.idleMs > eagerMs);
  return wantsPeers ? eagerMs : Math.min(maxMs, Math.max(eagerMs, state.trackerIntervalMs));
}

/**
 * Keeps a node's membership of one blob's swarm current at the tracker: 'started' at once,
 * re-announces (often while the node lacks peers, rarely once it has enough), 'completed'
 * when the blob is complete and 'stopped' when leaving. Each answer's peers are dialed.
 */
export class Announcer {
  readonly #options: AnnouncerOptions;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #completedSent = false;
  #inFlight: Promise<void> | undefined;
  readonly #abort = new AbortController();
  lastError: string | undefined;
  announces = 0;
  /** The replica that answered the last announce. */
  replica: string | undefined;

  constructor(options: AnnouncerOptions) {
    this.#options = options;
    this.#log = (options.logger ?? silentLogger()).child({ digest: options.swarm.meta.digest });
  }

  start(): void {
    this.#options.swarm.on('complete', () => this.announceNow());
    this.announceNow('started');
  }

  /** Announces now (a reader is waiting, or the blob just completed). */
  announceNow(event?: 'started'): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    if (this.#inFlight) return;
    this.#inFlight = this.#announce(event).finally(() => {
      this.#inFlight = undefined;
    });
  }

  async #announce(event?: 'started'): Promise<void> {
    const { client, node, swarm } = this.#options;
    const eager = this.#options.eagerIntervalMs ?? EAGER_ANNOUNCE_MS;
    const max = this.#options.maxIntervalMs ?? MAX_ANNOUNCE_MS;
    let next = eager;
    try {
      const sendCompleted = swarm.complete && !this.#completedSent;
      const result = await client.announce(
        {
          meta: swarm.meta,
          peerId: node.peerId,
          port: node.port,
          uploaded: swarm.uploadedBytes,
          downloaded: this.#options.downloaded(),
          left: swarm.bytesLeft,
          ...(sendCompleted ? { event: 'completed' as const } : event ? { event } : {}),
        },
        this.#abort.signal,
      );
      if (sendCompleted) this.#completedSent = true;
      this.announces++;
      const previous = this.replica;
      this.replica = result.replica;
      if (previous !== undefined && previous !== result.replica) {
        this.#log.info({ replica: result.replica, previous }, 'announcing to another tracker replica');
        this.#options.onReplicaChange?.(result.replica, previous);
      }
      this.lastError = undefined;
      if (!swarm.complete) node.addPeers(swarm, result.peers);
      // Few peers, or peers with nothing new: ask again soon.
      const state = { complete: swarm.complete, peers: swarm.peers.size, maxPeers: swarm.maxPeers, idleMs: swarm.idleMs, trackerIntervalMs: result.interval * 1000 };
      next = nextAnnounceDelayMs(state, eager, max);
    } catch (err) {
      this.lastError = errorMessage(err);
      this.#log.warn({ err: this.lastError }, 'announce failed');
    }
    if (!this.#stopped) {
      this.#timer = setTimeout(() => this.announceNow(), next);
      this.#timer.unref();
    }
  }

  /** Stops announcing and tells the tracker this node left (best effort). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    const { client, node, swarm } = this.#options;
    await this.#inFlight?.catch(() => {});
    try {
      await client.announce(
        {
          meta: swarm.meta,
          peerId: node.peerId,
          port: node.port,
          uploaded: swarm.uploadedBytes,
          downloaded: this.#options.downloaded(),
          left: swarm.bytesLeft,
          event: 'stopped',
        },
        AbortSignal.timeout(2000),
      );
    } catch {
      // The tracker forgets silent peers on its own.
    }
    this.#abort.abort();
  }
}
