/**
 * A discrete-event, piece-level simulation of a rollout: seeders, a tracker and thousands of
 * agents, each agent pulling its blobs through simulated swarms that take the agent's own
 * decisions (see swarm-model.ts), over links shared max-min fairly (bandwidth.ts).
 *
 * Time advances from event to event (announces, connections, pieces through); flow rates are
 * recomputed a short step after flows came or went, not on every change, which is what lets
 * a fleet of thousands of nodes run in seconds to minutes. Deterministic: one seeded random source, and events at
 * equal times run in the order they were scheduled.
 *
 * What it leaves out, so it is a lower bound: latency inside a connection (requests and have
 * messages arrive at once), TCP dynamics, CPU (hashing, copies) and disk; an agent never
 * falls back to the origin.
 */
import { type FlowNetwork as FlowNetworkType, FlowNetwork } from './bandwidth.ts';
import { EventQueue } from './event-queue.ts';
import { DEFAULT_MAX_PEERS, SEEDER_MAX_PEERS, choosePieceLength, nextAnnounceDelayMs, pipelineLimits, seedOffersPerPeer } from './policies.ts';
import { seededRandom } from './random.ts';
import { waveAssignment } from '../scenario.ts';
import { type ConnectionEnd, type SimBlob, type SimBytes, type SimContext, SimSwarm, pieceSize } from './swarm-model.ts';
import { SimTracker } from './tracker-model.ts';

/** Everything a simulated rollout is made of. Rates in bytes/s, times in seconds. */
export interface SimulationConfig {
  /** Agents (seeders come on top). */
  nodes: number;
  blobs: ReadonlyArray<{ name: string; size: number }>;
  /** Blob indices each node pulls: node i pulls images[i % images.length]. */
  images: ReadonlyArray<readonly number[]>;
  downloadRate: number;
  uploadRate: number;
  /** Seeders, each holding (or warming) every blob. */
  seeders: number;
  /** Upload rate of each seeder. */
  seederRate: number;
  /** The origin's link, shared by the seeders' warm-ups (cold runs). */
  originRate: number;
  /** Seeders hold the blobs before the rollout starts (preheated). */
  warm: boolean;
  /** Shares of the nodes in each wave; a wave starts when the one before it completed. */
  waves: readonly number[];
  /** Pause between a wave's completion and the next wave's start. */
  waveGap: number;
  /** Nodes of a wave start spread evenly at random over this many seconds. */
  startSpread: number;
  /** Round trip of an announce, a dial, a metainfo request. */
  latency: number;
  /** The announce interval the tracker asks for. */
  trackerInterval: number;
  /** Piece length override (default: choosePieceLength, as the tracker does). */
  pieceLength?: number;
  /**
   * Longest wait before rates are recomputed after flows changed (default: the time of one
   * piece at the fastest link; results barely move between a quarter of that and four times
   * it, while the run time does).
   */
  step?: number;
  /** Give up after this much simulated time. */
  maxTime?: number;
  seed: number;
}

export interface SimNodeResult {
  node: number;
  wave: number;
  startedAt: number;
  /** Seconds from the node's start until all its blobs were complete; undefined if never. */
  seconds: number | undefined;
  /** Bytes of all the node's blobs. */
  size: number;
  bytes: SimBytes;
  uploaded: number;
}

export interface SimulationResult {
  nodes: SimNodeResult[];
  seeders: Array<{ node: number; uploaded: number; originBytes: number }>;
  /** Bytes read from the origin so far, over time (seconds since the rollout started). */
  originTimeline: Array<[number, number]>;
  /** Bytes read from the origin in all (including the preheat of a warm run). */
  originBytes: number;
  /** Piece length per blob. */
  pieceLengths: number[];
  stats: { events: number; rebalances: number; wastedBytes: number; simulatedSeconds: number; wallSeconds: number };
}

interface NodeState {
  readonly id: number;
  readonly wave: number;
  readonly blobs: readonly number[];
  readonly size: number;
  startedAt: number | undefined;
  doneAt: number | undefined;
  readonly swarms: SimSwarm[];
}

export class Simulation implements SimContext {
  now = 0;
  wastedBytes = 0;
  /** Called every so many events with the simulated time and the nodes done so far. */
  onProgress: ((simulatedSeconds: number, nodesDone: number, nodes: number) => void) | undefined;
  readonly random: () => number;
  readonly network: FlowNetworkType;
  readonly #config: SimulationConfig;
  readonly #queue = new EventQueue();
  readonly #blobs: SimBlob[];
  readonly #tracker: SimTracker;
  readonly #seeders: SimSwarm[][] = [];
  readonly #agents: NodeState[] = [];
  /** Agent swarms per blob, for publishing piece hashes during a cold start. */
  readonly #agentSwarms: SimSwarm[][];
  readonly #waves: NodeState[][];
  readonly #step: number;
  #rebalanceScheduled = false;
  #done = 0;
  #events = 0;
  #rebalances = 0;
  #originBytes = 0;
  readonly #originTimeline: Array<[number, number]> = [];
  readonly #seederOrigin: number[];

  constructor(config: SimulationConfig) {
    validate(config);
    this.#config = config;
    this.random = seededRandom(config.seed);
    this.#blobs = config.blobs.map((b, index) => {
      const pieceLength = config.pieceLength ?? choosePieceLength(b.size);
      const limits = pipelineLimits(pieceLength);
      return { index, name: b.name, size: b.size, pieceLength, pieceCount: Math.ceil(b.size / pieceLength), limits, offersPerPeer: seedOffersPerPeer(limits) };
    });
    const total = config.seeders + config.nodes;
    const up = new Float64Array(total);
    const down = new Float64Array(total);
    for (let n = 0; n < total; n++) {
      up[n] = n < config.seeders ? config.seederRate : config.uploadRate;
      down[n] = n < config.seeders ? 0 : config.downloadRate;
    }
    this.network = new FlowNetwork(up, down);
    this.#tracker = new SimTracker(this.#blobs.length, this.random);
    this.#agentSwarms = this.#blobs.map(() => []);
    this.#seederOrigin = new Array<number>(config.seeders).fill(0);
    const fastest = Math.max(config.downloadRate, config.uploadRate, config.seederRate);
    const smallestPiece = Math.min(...this.#blobs.map((b) => Math.min(b.pieceLength, b.size)));
    this.#step = config.step ?? smallestPiece / fastest;
    this.#waves = config.waves.map(() => []);
    for (const [n, w] of waveAssignment(config).entries()) {
      const blobs = config.images[n % config.images.length]!;
      const size = blobs.reduce((sum, b) => sum + this.#blobs[b]!.size, 0);
      const node: NodeState = { id: config.seeders + n, wave: w, blobs, size, startedAt: undefined, doneAt: undefined, swarms: [] };
      this.#agents.push(node);
      this.#waves[w]!.push(node);
    }
  }

  schedule(time: number, action: () => void): void {
    this.#queue.push(time, action);
  }

  scheduleArrival(end: ConnectionEnd): void {
    const flow = end.flow;
    const token = ++flow.token;
    const finish = flow.finishTime();
    if (finish === Infinity) return; // stalled until the next rebalance gives it a rate
    this.#queue.push(Math.max(finish, this.now), () => {
      if (flow.token === token && flow.active && !end.closed) end.owner.pieceArrived(end);
    });
  }

  swarmCompleted(swarm: SimSwarm): void {
    if (swarm.isSeeder) {
      this.#tracker.announce(swarm, 0);
      return;
    }
    this.#tracker.announce(swarm, 0); // 'completed'
    const node = this.#agents[swarm.node - this.#config.seeders]!;
    if (node.doneAt !== undefined || !node.swarms.every((s) => s.complete) || node.swarms.length < node.blobs.length) return;
    node.doneAt = this.now;
    this.#done++;
    const wave = this.#waves[node.wave]!;
    if (wave.every((n) => n.doneAt !== undefined) && node.wave + 1 < this.#waves.length) {
      this.schedule(this.now + this.#config.waveGap, () => this.#startWave(node.wave + 1));
    }
  }

  /** Runs the rollout to the end (or until nothing can move). */
  run(): SimulationResult {
    const wallStart = performance.now();
    const config = this.#config;
    this.#startSeeders();
    this.#startWave(0);
    const maxTime = config.maxTime ?? Infinity;
    // Nothing left to run means nothing can move any more: a stuck rollout ends here too.
    while (this.#done < this.#agents.length && this.#queue.size > 0 && this.#queue.peekTime() <= maxTime) {
      this.now = Math.max(this.now, this.#queue.peekTime());
      this.#queue.pop()();
      if (++this.#events % 200_000 === 0) this.onProgress?.(this.now, this.#done, this.#agents.length);
      if (this.network.dirty && !this.#rebalanceScheduled) {
        this.#rebalanceScheduled = true;
        this.schedule(this.now + this.#step, () => this.#rebalance());
      }
    }
    return this.#result((performance.now() - wallStart) / 1000);
  }

  #rebalance(): void {
    this.#rebalanceScheduled = false;
    this.#rebalances++;
    for (const flow of this.network.rebalance(this.now)) this.scheduleArrival(flow.carrier as ConnectionEnd);
  }

  #startSeeders(): void {
    const config = this.#config;
    for (let s = 0; s < config.seeders; s++) {
      const swarms = this.#blobs.map(
        (blob) => new SimSwarm(this, s, blob, { seeder: true, maxPeers: SEEDER_MAX_PEERS, known: config.warm, have: config.warm }),
      );
      this.#seeders.push(swarms);
      for (const swarm of swarms) this.#tracker.announce(swarm, 0);
      if (config.warm) {
        // The preheat read one copy per seeder before the rollout.
        for (const blob of this.#blobs) this.#seederOrigin[s]! += blob.size;
      }
    }
    if (config.warm) {
      this.#originBytes = this.#seederOrigin.reduce((a, b) => a + b, 0);
      this.#originTimeline.push([0, this.#originBytes]);
    } else {
      // The first metainfo request starts every seeder's warm-up.
      this.schedule(this.#config.latency, () => this.#warmFromOrigin());
    }
    // Offers also open up with time (BlobSwarm's one-second offer timer).
    const refresh = () => {
      for (const swarms of this.#seeders) for (const swarm of swarms) swarm.refreshOffers();
      if (this.#done < this.#agents.length) this.schedule(this.now + 1, refresh);
    };
    this.schedule(1, refresh);
  }

  /**
   * Cold start: each seeder reads every blob from the origin in piece order, all warm-ups
   * sharing the origin's link equally; piece hashes reach the agents in batches, as their
   * metainfo long polls return.
   */
  #warmFromOrigin(): void {
    const fetches = this.#seeders.flatMap((swarms, s) => swarms.map((swarm) => ({ seeder: s, swarm, next: 0, left: 0 })));
    for (const f of fetches) f.left = pieceSize(f.swarm.blob, 0);
    const published = this.#blobs.map(() => 0);
    const pending = this.#blobs.map(() => [] as number[]);
    let last = this.now;
    let publishScheduled = false;
    const publish = () => {
      publishScheduled = false;
      for (const blob of this.#blobs) {
        const fresh = pending[blob.index]!.splice(0);
        if (fresh.length === 0) continue;
        for (const swarm of this.#agentSwarms[blob.index]!) swarm.learnPieces(fresh);
      }
    };
    const advance = () => {
      const active = fetches.filter((f) => f.next < f.swarm.blob.pieceCount);
      if (active.length === 0) return;
      const rate = this.#config.originRate / active.length;
      const elapsed = this.now - last;
      last = this.now;
      for (const f of active) f.left -= elapsed * rate;
      for (const f of active) {
        if (f.left > 1e-6) continue;
        const index = f.next++;
        const size = pieceSize(f.swarm.blob, index);
        this.#seederOrigin[f.seeder]! += size;
        this.#originBytes += size;
        f.swarm.bytes.origin += size;
        f.swarm.pieceStored(index);
        const blob = f.swarm.blob.index;
        if (index >= published[blob]!) {
          // The first seeder to store a piece publishes its hash.
          published[blob] = index + 1;
          pending[blob]!.push(index);
          if (!publishScheduled) {
            publishScheduled = true;
            this.schedule(this.now + this.#config.latency / 2, publish);
          }
        }
        if (f.next < f.swarm.blob.pieceCount) f.left = pieceSize(f.swarm.blob, f.next);
      }
      this.#originTimeline.push([this.now, this.#originBytes]);
      const still = fetches.filter((f) => f.next < f.swarm.blob.pieceCount);
      if (still.length === 0) return;
      const nextRate = this.#config.originRate / still.length;
      const wait = Math.min(...still.map((f) => f.left)) / nextRate;
      this.schedule(this.now + wait, advance);
    };
    this.#originTimeline.push([this.now, 0]);
    const first = Math.min(...fetches.map((f) => f.left)) / (this.#config.originRate / fetches.length);
    this.schedule(this.now + first, advance);
  }

  #startWave(w: number): void {
    const config = this.#config;
    for (const node of this.#waves[w]!) {
      const offset = config.startSpread > 0 ? this.random() * config.startSpread : 0;
      this.schedule(this.now + offset, () => this.#startNode(node));
    }
  }

  #startNode(node: NodeState): void {
    node.startedAt = this.now;
    // The agent first fetches the blob's metainfo, then joins its swarm.
    this.schedule(this.now + this.#config.latency, () => {
      for (const b of node.blobs) {
        const blob = this.#blobs[b]!;
        const known = this.#config.warm;
        const swarm = new SimSwarm(this, node.id, blob, { seeder: false, maxPeers: DEFAULT_MAX_PEERS, known, have: false });
        if (!known) {
          const seeder = this.#seeders[0]![b]!;
          const hashes: number[] = [];
          for (let i = 0; i < blob.pieceCount; i++) if (seeder.picker.hasPiece(i)) hashes.push(i);
          swarm.learnPieces(hashes);
        }
        node.swarms.push(swarm);
        this.#agentSwarms[b]!.push(swarm);
        this.#announce(swarm);
      }
    });
  }

  /** One announce and the dials it leads to (Announcer + SwarmNode.addPeers), then the next one. */
  #announce(swarm: SimSwarm): void {
    this.schedule(this.now + this.#config.latency, () => {
      const peers = this.#tracker.announce(swarm);
      if (swarm.complete) return;
      for (const peer of peers) {
        if (swarm.ends.size + swarm.dialing.size >= swarm.maxPeers) break;
        if (swarm.dialing.has(peer) || swarm.ends.has(peer)) continue;
        swarm.dialing.add(peer);
        this.schedule(this.now + this.#config.latency, () => {
          swarm.dialing.delete(peer);
          SimSwarm.connect(swarm, peer);
        });
      }
      const delayMs = nextAnnounceDelayMs({
        complete: swarm.complete,
        peers: swarm.ends.size,
        maxPeers: swarm.maxPeers,
        idleMs: (this.now - swarm.lastPieceAt) * 1000,
        trackerIntervalMs: this.#config.trackerInterval * 1000,
      });
      this.schedule(this.now + delayMs / 1000, () => {
        if (!swarm.complete) this.#announce(swarm);
      });
    });
  }

  #result(wallSeconds: number): SimulationResult {
    const nodes = this.#agents.map((node): SimNodeResult => {
      const bytes: SimBytes = { peer: 0, seeder: 0, origin: 0 };
      let uploaded = 0;
      for (const swarm of node.swarms) {
        bytes.peer += swarm.bytes.peer;
        bytes.seeder += swarm.bytes.seeder;
        bytes.origin += swarm.bytes.origin;
        uploaded += swarm.uploaded;
      }
      return {
        node: node.id,
        wave: node.wave,
        startedAt: node.startedAt ?? NaN,
        seconds: node.doneAt === undefined || node.startedAt === undefined ? undefined : node.doneAt - node.startedAt,
        size: node.size,
        bytes,
        uploaded,
      };
    });
    return {
      nodes,
      seeders: this.#seeders.map((swarms, s) => ({ node: s, uploaded: swarms.reduce((sum, sw) => sum + sw.uploaded, 0), originBytes: this.#seederOrigin[s]! })),
      originTimeline: this.#originTimeline,
      originBytes: this.#originBytes,
      pieceLengths: this.#blobs.map((b) => b.pieceLength),
      stats: {
        events: this.#events,
        rebalances: this.#rebalances,
        wastedBytes: this.wastedBytes,
        simulatedSeconds: this.now,
        wallSeconds,
      },
    };
  }
}

function validate(config: SimulationConfig): void {
  const fail = (message: string) => {
    throw new RangeError(`simulation: ${message}`);
  };
  if (!Number.isInteger(config.nodes) || config.nodes < 1) fail(`nodes must be a whole number >= 1, got ${config.nodes}`);
  if (!Number.isInteger(config.seeders) || config.seeders < 1) fail(`seeders must be a whole number >= 1, got ${config.seeders}`);
  if (config.blobs.length === 0) fail('no blobs');
  for (const b of config.blobs) if (!(b.size > 0)) fail(`blob ${b.name} has size ${b.size}`);
  for (const [name, rate] of Object.entries({ downloadRate: config.downloadRate, uploadRate: config.uploadRate, seederRate: config.seederRate, originRate: config.originRate })) {
    if (!(rate > 0) || !Number.isFinite(rate)) fail(`${name} must be a finite rate > 0 (bytes/s), got ${rate}`);
  }
  if (config.images.length === 0) fail('no images');
  for (const image of config.images) for (const b of image) if (!(b >= 0 && b < config.blobs.length)) fail(`image names blob ${b}, which does not exist`);
  const shares = config.waves.reduce((a, b) => a + b, 0);
  if (config.waves.length === 0 || config.waves.some((w) => !(w > 0)) || Math.abs(shares - 1) > 1e-6) fail(`wave shares must be > 0 and add up to 1, got ${config.waves.join(', ')}`);
}
