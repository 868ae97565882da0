/**
 * The simulator's clock: actions ordered by time, ties in the order they were scheduled (so a
 * run is deterministic). A binary heap over parallel arrays: a fleet-scale run schedules
 * millions of events.
 */
export class EventQueue {
  #times: number[] = [];
  #order: number[] = [];
  #actions: Array<() => void> = [];
  #next = 0;

  get size(): number {
    return this.#times.length;
  }

  /** Time of the earliest event, Infinity when empty. */
  peekTime(): number {
    return this.#times.length === 0 ? Infinity : this.#times[0]!;
  }

  push(time: number, action: () => void): void {
    const times = this.#times;
    const order = this.#order;
    const actions = this.#actions;
    const seq = this.#next++;
    let i = times.length;
    times.push(time);
    order.push(seq);
    actions.push(action);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = times[parent]!;
      if (pt < time || (pt === time && order[parent]! < seq)) break;
      times[i] = pt;
      order[i] = order[parent]!;
      actions[i] = actions[parent]!;
      i = parent;
    }
    times[i] = time;
    order[i] = seq;
    actions[i] = action;
  }

  /** Removes the earliest event and returns its action (the caller reads peekTime first). */
  pop(): () => void {
    const times = this.#times;
    const order = this.#order;
    const actions = this.#actions;
    const top = actions[0]!;
    const lastTime = times.pop()!;
    const lastSeq = order.pop()!;
    const lastAction = actions.pop()!;
    const n = times.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        let child = left;
        if (right < n && (times[right]! < times[left]! || (times[right] === times[left] && order[right]! < order[left]!))) child = right;
        const ct = times[child]!;
        if (ct > lastTime || (ct === lastTime && order[child]! > lastSeq)) break;
        times[i] = ct;
        order[i] = order[child]!;
        actions[i] = actions[child]!;
        i = child;
      }
      times[i] = lastTime;
      order[i] = lastSeq;
      actions[i] = lastAction;
    }
    return top;
  }
}
