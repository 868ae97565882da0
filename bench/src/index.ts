/**
 * Shoal's benchmarks: `shoal bench rollout` (real processes on this machine, rate-capped
 * links, baselines side by side) and `shoal bench simulate` (the fleet model, with the agent's
 * own policies), one scenario format and one report for both.
 */
export { type Scenario, type ScenarioOverrides, type Target, SCENARIO_DIR, applyOverrides, idealSeconds, loadScenario, parseScenario } from './scenario.ts';
export { BASELINES, type Baseline, MAX_REAL_NODES, MODEL_TOLERANCE, type RolloutOptions, runRollout } from './rollout/rollout.ts';
export { MODEL_SYSTEM, runSimulation, simulateScenario, type SimulateOptions } from './simulate.ts';
export { renderText } from './report/text.ts';
export { renderSvg } from './report/svg.ts';
export { RESULTS_DIR, writeReport } from './report/write.ts';
export type { BenchReport, CheckResult, NodeFigures, Percentiles, SystemResult } from './report/types.ts';
export { simulatorPolicies } from './sim/policies.ts';
export { Simulation, type SimulationConfig, type SimulationResult } from './sim/simulation.ts';
