import { describe, expect, it } from 'vitest';
import { Flow, FlowNetwork } from '../src/sim/bandwidth.ts';
import { EventQueue } from '../src/sim/event-queue.ts';
import { seededRandom } from '../src/sim/random.ts';

describe('flow network', () => {
  it('shares links max-min fairly: a slow downloader leaves its share to the others', () => {
    // Node 0 uploads 100 to nodes 1 (downloads at most 30) and 2 (at most 100).
    const network = new FlowNetwork(new Float64Array([100, 0, 0]), new Float64Array([0, 30, 100]));
    const a = new Flow(0, 1, 'a');
    const b = new Flow(0, 2, 'b');
    network.activate(a, 0);
    network.activate(b, 0);
    network.rebalance(0);
    expect(a.rate).toBeCloseTo(30, 9);
    expect(b.rate).toBeCloseTo(70, 9);
  });

  it('gives a new flow what is spare at once, rebalances later, and settles progress at each change', () => {
    const network = new FlowNetwork(new Float64Array([100, 0, 0]), new Float64Array([0, 100, 100]));
    const a = new Flow(0, 1, 'a');
    a.remaining = 1000;
    network.activate(a, 0);
    expect(a.rate).toBe(100);
    const b = new Flow(0, 2, 'b');
    b.remaining = 1000;
    network.activate(b, 2);
    expect(b.rate).toBe(0); // nothing spare at node 0 until the rebalance
    expect(network.dirty).toBe(true);
    const changed = network.rebalance(2);
    expect(new Set(changed)).toEqual(new Set([a, b]));
    expect(a.remaining).toBeCloseTo(800, 9);
    expect(a.rate).toBeCloseTo(50, 9);
    expect(a.finishTime()).toBeCloseTo(2 + 800 / 50, 9);
    network.deactivate(b, 4);
    expect(network.uploadRate(0)).toBeCloseTo(50, 9);
  });
});

describe('event queue and random source', () => {
  it('runs events in time order, ties in the order they were scheduled', () => {
    const queue = new EventQueue();
    const order: string[] = [];
    for (const [t, name] of [[3, 'c'], [1, 'a1'], [2, 'b'], [1, 'a2'], [0.5, 'z']] as const) queue.push(t, () => order.push(name));
    while (queue.size > 0) queue.pop()();
    expect(order).toEqual(['z', 'a1', 'a2', 'b', 'c']);
  });

  it('repeats a stream for a seed', () => {
    const a = seededRandom(9);
    const b = seededRandom(9);
    const c = seededRandom(10);
    const draw = (r: () => number) => Array.from({ length: 5 }, r);
    const first = draw(a);
    expect(draw(b)).toEqual(first);
    expect(draw(c)).not.toEqual(first);
    expect(first.every((x) => x >= 0 && x < 1)).toBe(true);
  });
});
