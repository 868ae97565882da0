/**
 * `shoal bench simulate`: a scenario run through the fleet model (sim/) instead of real
 * processes, with the same report as a real rollout.
 */
import { type SimulationConfig, type SimulationResult, Simulation } from './sim/simulation.ts';
import { evaluateTargets } from './report/checks.ts';
import { machineInfo, nodeFigures, summarize } from './report/stats.ts';
import type { BenchReport, SystemResult } from './report/types.ts';
import { type Scenario, idealSeconds, toJson } from './scenario.ts';

export const MODEL_SYSTEM = 'shoal-model';

export interface SimulateOptions {
  /** Called now and then with simulated seconds and nodes done (for a progress line). */
  onProgress?: (simulatedSeconds: number, nodesDone: number, nodes: number) => void;
}

/** The simulation's configuration for a scenario. */
export function simulationConfig(scenario: Scenario): SimulationConfig {
  return {
    nodes: scenario.nodes,
    blobs: scenario.blobs,
    images: scenario.images,
    downloadRate: scenario.downloadRate,
    uploadRate: scenario.uploadRate,
    seeders: scenario.seeders,
    seederRate: scenario.seederRate,
    originRate: scenario.originRate,
    warm: scenario.warm,
    waves: scenario.waves,
    waveGap: scenario.waveGap,
    startSpread: scenario.startSpread,
    latency: scenario.simulation.latency,
    trackerInterval: scenario.simulation.trackerInterval,
    seed: scenario.simulation.seed,
    ...(scenario.simulation.pieceLength === undefined ? {} : { pieceLength: scenario.simulation.pieceLength }),
    ...(scenario.simulation.step === undefined ? {} : { step: scenario.simulation.step }),
    // A rollout that has not finished at 20x its ideal is stuck, not slow.
    maxTime: 20 * Math.max(...Array.from({ length: Math.min(scenario.nodes, scenario.images.length) }, (_, i) => idealSeconds(scenario, i))) * scenario.waves.length + scenario.waveGap * scenario.waves.length + scenario.startSpread * scenario.waves.length,
  };
}

/** Runs the model of a scenario and returns it as a system of a report. */
export function simulateScenario(scenario: Scenario, options: SimulateOptions = {}): SystemResult {
  const config = simulationConfig(scenario);
  const simulation = new Simulation(config);
  if (options.onProgress) simulation.onProgress = options.onProgress;
  return modelSystem(scenario, simulation.run());
}

export function modelSystem(scenario: Scenario, result: SimulationResult): SystemResult {
  const distinctBytes = scenario.blobs.reduce((sum, b) => sum + b.size, 0);
  const nodes = result.nodes.map((n, i) =>
    nodeFigures({
      name: `node-${i}`,
      wave: n.wave,
      startedAt: n.startedAt,
      seconds: n.seconds ?? null,
      idealSeconds: idealSeconds(scenario, i),
      bytes: n.bytes,
      uploadedBytes: n.uploaded,
      peakRssBytes: null,
      cpuSeconds: null,
    }),
  );
  const seederUploaded = result.seeders.reduce((sum, s) => sum + s.uploaded, 0);
  const notes: string[] = [];
  const incomplete = nodes.filter((n) => n.seconds === null).length;
  if (incomplete > 0) notes.push(`${incomplete} node(s) never completed in the model (stuck or past the time limit)`);
  return summarize({
    system: MODEL_SYSTEM,
    label: `the fleet model (bench/src/sim): ${scenario.seeders} seeder(s), piece length ${result.pieceLengths.map(formatPiece).join(', ')}, same piece choice, super-seeding, peer handout and link policy as the agent and tracker; no CPU, disk or in-connection latency`,
    nodes,
    origin: { bytes: result.originBytes, copies: result.originBytes / distinctBytes, timeline: result.originTimeline },
    server: { uploadedBytes: seederUploaded, copies: seederUploaded / distinctBytes },
    cpu: null,
    notes,
    simulation: {
      events: result.stats.events,
      rebalances: result.stats.rebalances,
      wallSeconds: result.stats.wallSeconds,
      wastedBytes: result.stats.wastedBytes,
      pieceLengths: result.pieceLengths,
    },
  });
}

/** `shoal bench simulate`: the model's report for a scenario. */
export function runSimulation(scenario: Scenario, options: SimulateOptions = {}): BenchReport {
  const system = simulateScenario(scenario, options);
  return {
    kind: 'simulation',
    version: 1,
    createdAt: new Date().toISOString(),
    scenario: toJson(scenario),
    machine: machineInfo(),
    idealSeconds: Math.max(...Array.from({ length: Math.min(scenario.nodes, scenario.images.length) }, (_, i) => idealSeconds(scenario, i))),
    links: 'model',
    systems: [system],
    checks: evaluateTargets(scenario.targets, [system], MODEL_SYSTEM),
  };
}

function formatPiece(bytes: number): string {
  return bytes >= 1 << 20 ? `${bytes / (1 << 20)} MiB` : `${bytes / 1024} KiB`;
}
