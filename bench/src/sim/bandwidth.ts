/**
 * The links of a simulated fleet: every node has an upload and a download capacity, and every
 * active flow (one connection carrying requested pieces one way) crosses its uploader's
 * upload and its downloader's download.
 *
 * Rates are max-min fair, like TCP flows sharing access links (and like the agent's node-wide
 * token buckets, which serve waiting connections in turn): `rebalance()` computes them by
 * progressive filling, and the simulator calls it a short while after flows came or went
 * (not on every change: that is what lets thousands of nodes run). A flow that starts between
 * two rebalances takes at once what is spare at both of its ends, so a link freed by a
 * finished piece is reused without waiting for the next rebalance.
 */

/** One connection's transfer in one direction, carrying the pieces its downloader requested. */
export class Flow<Carrier = unknown> {
  /** What the flow belongs to (the simulator's connection end). */
  readonly carrier: Carrier;
  /** Uploading node. */
  readonly up: number;
  /** Downloading node. */
  readonly down: number;
  /** Bytes per second while active. */
  rate = 0;
  /** Bytes left of the piece being sent, as of `updatedAt`. */
  remaining = 0;
  /** Seconds. */
  updatedAt = 0;
  active = false;
  /** Bumped whenever the piece being sent or the rate changes, so a stale arrival event is ignored. */
  token = 0;
  /** Positions in the network's lists (swap-remove). */
  activeSlot = -1;
  upSlot = -1;
  downSlot = -1;
  /** Progressive-filling round that froze this flow's rate. */
  frozenIn = 0;
  /** The rate progressive filling found, before it is applied. */
  nextRate = 0;

  constructor(up: number, down: number, carrier: Carrier) {
    this.up = up;
    this.down = down;
    this.carrier = carrier;
  }

  /** Bytes left of the current piece at time `now`. */
  remainingAt(now: number): number {
    return Math.max(0, this.remaining - this.rate * (now - this.updatedAt));
  }

  /** When the current piece is through, at the current rate (Infinity while stalled). */
  finishTime(): number {
    return this.rate > 0 ? this.updatedAt + this.remaining / this.rate : Infinity;
  }
}

export class FlowNetwork {
  /** Flows sending now, in no particular order. */
  readonly active: Flow[] = [];
  /** Flows came or went since the last rebalance. */
  dirty = false;
  readonly #upCapacity: Float64Array;
  readonly #downCapacity: Float64Array;
  readonly #upUsed: Float64Array;
  readonly #downUsed: Float64Array;
  readonly #upFlows: Flow[][];
  readonly #downFlows: Flow[][];
  #round = 0;
  // Scratch space of the progressive filling, one entry per resource (2 per node).
  readonly #capacityLeft: Float64Array;
  readonly #flowsLeft: Int32Array;
  readonly #version: Int32Array;
  #heapKeys: number[] = [];
  #heapResources: number[] = [];
  #heapVersions: number[] = [];

  /** Capacities in bytes per second, one entry per node. */
  constructor(upCapacity: Float64Array, downCapacity: Float64Array) {
    const n = upCapacity.length;
    this.#upCapacity = upCapacity;
    this.#downCapacity = downCapacity;
    this.#upUsed = new Float64Array(n);
    this.#downUsed = new Float64Array(n);
    this.#upFlows = Array.from({ length: n }, () => []);
    this.#downFlows = Array.from({ length: n }, () => []);
    this.#capacityLeft = new Float64Array(2 * n);
    this.#flowsLeft = new Int32Array(2 * n);
    this.#version = new Int32Array(2 * n);
  }

  /** Brings a flow's progress up to `now` (before its rate changes). */
  settle(flow: Flow, now: number): void {
    flow.remaining = flow.remainingAt(now);
    flow.updatedAt = now;
  }

  /** A flow starts sending at `now`: it takes what is spare at both ends until the next rebalance. */
  activate(flow: Flow, now: number): void {
    if (flow.active) return;
    flow.active = true;
    flow.updatedAt = now;
    flow.activeSlot = this.active.push(flow) - 1;
    flow.upSlot = this.#upFlows[flow.up]!.push(flow) - 1;
    flow.downSlot = this.#downFlows[flow.down]!.push(flow) - 1;
    const spare = Math.min(this.#upCapacity[flow.up]! - this.#upUsed[flow.up]!, this.#downCapacity[flow.down]! - this.#downUsed[flow.down]!);
    this.#setRate(flow, Math.max(0, spare));
    this.dirty = true;
  }

  /** A flow stops (nothing left to send): its share is spare until the next rebalance. */
  deactivate(flow: Flow, now: number): void {
    if (!flow.active) return;
    this.settle(flow, now);
    this.#setRate(flow, 0);
    flow.active = false;
    removeAt(this.active, flow.activeSlot, (f, slot) => (f.activeSlot = slot));
    removeAt(this.#upFlows[flow.up]!, flow.upSlot, (f, slot) => (f.upSlot = slot));
    removeAt(this.#downFlows[flow.down]!, flow.downSlot, (f, slot) => (f.downSlot = slot));
    flow.activeSlot = flow.upSlot = flow.downSlot = -1;
    this.dirty = true;
  }

  /** Bytes per second a node uploads right now. */
  uploadRate(node: number): number {
    return this.#upUsed[node]!;
  }

  /**
   * Recomputes every active flow's max-min fair rate. Returns the flows whose rate changed
   * (their progress is settled at `now` first), whose completion times must be recomputed.
   */
  rebalance(now: number): Flow[] {
    this.dirty = false;
    const nodes = this.#upCapacity.length;
    const capacityLeft = this.#capacityLeft;
    const flowsLeft = this.#flowsLeft;
    const version = this.#version;
    this.#heapKeys.length = this.#heapResources.length = this.#heapVersions.length = 0;
    const round = ++this.#round;
    // Resource r < nodes is node r's upload; r >= nodes is node (r - nodes)'s download.
    for (let r = 0; r < 2 * nodes; r++) {
      const capacity = r < nodes ? this.#upCapacity[r]! : this.#downCapacity[r - nodes]!;
      const count = r < nodes ? this.#upFlows[r]!.length : this.#downFlows[r - nodes]!.length;
      capacityLeft[r] = capacity;
      flowsLeft[r] = count;
      version[r]!++;
      if (count > 0) this.#heapPush(capacity / count, r, version[r]!);
    }
    // Progressive filling: the resource with the smallest fair share is the bottleneck of all
    // its flows still unfrozen; freeze them at that share and charge their other ends.
    while (this.#heapKeys.length > 0) {
      const [share, r, v] = this.#heapPop();
      if (v !== version[r] || flowsLeft[r] === 0) continue;
      const isUp = r < nodes;
      const flows = isUp ? this.#upFlows[r]! : this.#downFlows[r - nodes]!;
      const rate = Math.max(0, share);
      for (const flow of flows) {
        if (flow.frozenIn === round) continue;
        flow.frozenIn = round;
        flow.nextRate = rate;
        const other = isUp ? flow.down + nodes : flow.up;
        capacityLeft[other]! -= rate;
        flowsLeft[other]!--;
        version[other]!++;
        if (flowsLeft[other]! > 0) this.#heapPush(capacityLeft[other]! / flowsLeft[other]!, other, version[other]!);
      }
      flowsLeft[r] = 0;
    }
    const changed: Flow[] = [];
    for (const flow of this.active) {
      if (Math.abs(flow.nextRate - flow.rate) <= 1e-9 * flow.rate) continue;
      this.settle(flow, now);
      this.#setRate(flow, flow.nextRate);
      changed.push(flow);
    }
    return changed;
  }

  #setRate(flow: Flow, rate: number): void {
    this.#upUsed[flow.up]! += rate - flow.rate;
    this.#downUsed[flow.down]! += rate - flow.rate;
    flow.rate = rate;
  }

  #heapPush(key: number, resource: number, version: number): void {
    const keys = this.#heapKeys;
    const resources = this.#heapResources;
    const versions = this.#heapVersions;
    let i = keys.length;
    keys.push(key);
    resources.push(resource);
    versions.push(version);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (keys[parent]! <= key) break;
      keys[i] = keys[parent]!;
      resources[i] = resources[parent]!;
      versions[i] = versions[parent]!;
      i = parent;
    }
    keys[i] = key;
    resources[i] = resource;
    versions[i] = version;
  }

  #heapPop(): [number, number, number] {
    const keys = this.#heapKeys;
    const resources = this.#heapResources;
    const versions = this.#heapVersions;
    const top: [number, number, number] = [keys[0]!, resources[0]!, versions[0]!];
    const key = keys.pop()!;
    const resource = resources.pop()!;
    const version = versions.pop()!;
    const n = keys.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const child = left + 1 < n && keys[left + 1]! < keys[left]! ? left + 1 : left;
        if (keys[child]! >= key) break;
        keys[i] = keys[child]!;
        resources[i] = resources[child]!;
        versions[i] = versions[child]!;
        i = child;
      }
      keys[i] = key;
      resources[i] = resource;
      versions[i] = version;
    }
    return top;
  }
}

function removeAt(list: Flow[], slot: number, moved: (flow: Flow, slot: number) => void): void {
  const last = list.pop()!;
  if (slot < list.length) {
    list[slot] = last;
    moved(last, slot);
  }
}
