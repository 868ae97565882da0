import type { Target } from '../scenario.ts';
import { percentile } from './stats.ts';
import type { CheckResult, SystemResult } from './types.ts';

const RATIO_WORDS: Record<string, string> = {
  'ratio.p50': 'median node',
  'ratio.p90': 'p90 node',
  'ratio.p99': 'p99 node',
  'ratio.p999': 'p99.9 node',
  'ratio.max': 'slowest node',
};

/**
 * Checks a report's systems against the scenario's targets. A node that never completed
 * counts as infinitely slow; a target on a system that did not run is left open (pass null).
 */
export function evaluateTargets(targets: readonly Target[], systems: readonly SystemResult[], primary: string): CheckResult[] {
  return targets.map((target): CheckResult => {
    const name = target.system ?? primary;
    const system = systems.find((s) => s.system === name);
    if (target.metric === 'fasterThan') {
      const baseline = systems.find((s) => s.system === target.baseline);
      const description = `${name}: slowest node faster than ${target.baseline}'s`;
      const value = system ? slowest(system) : null;
      const reference = baseline ? slowest(baseline) : null;
      if (value === null || reference === null) return { target, description: `${description} (${baseline ? name : target.baseline} did not run)`, value, reference, pass: null };
      return { target, description, value, reference, pass: value < reference };
    }
    if (target.metric === 'origin.copies') {
      const description = `${name}: origin egress <= ${target.atMost} copies`;
      if (!system) return { target, description: `${description} (did not run)`, value: null, reference: target.atMost, pass: null };
      return { target, description, value: system.origin.copies, reference: target.atMost, pass: system.origin.copies <= target.atMost };
    }
    const description = `${name}: ${RATIO_WORDS[target.metric]} <= ${target.atMost.toFixed(2)}x ideal`;
    if (!system) return { target, description: `${description} (did not run)`, value: null, reference: target.atMost, pass: null };
    const ratios = system.nodes.map((n) => n.ratio ?? Infinity).sort((a, b) => a - b);
    const p = { 'ratio.p50': 0.5, 'ratio.p90': 0.9, 'ratio.p99': 0.99, 'ratio.p999': 0.999, 'ratio.max': 1 }[target.metric];
    const value = percentile(ratios, p);
    return { target, description, value: Number.isFinite(value) ? value : null, reference: target.atMost, pass: value <= target.atMost };
  });
}

function slowest(system: SystemResult): number {
  return system.complete < system.nodes.length ? Infinity : (system.completion?.max ?? Infinity);
}
