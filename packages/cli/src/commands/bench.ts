import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import {
  BASELINES,
  type Baseline,
  RESULTS_DIR,
  type BenchReport,
  type Scenario,
  type ScenarioOverrides,
  applyOverrides,
  loadScenario,
  renderText,
  runRollout,
  runSimulation,
  writeReport,
} from '@shoal/bench';
import { option, parseBytes, parseDuration, splitList } from '../options.ts';

/** Parsed options shared by `bench rollout` and `bench simulate`. */
interface ScenarioFlags {
  nodes?: number;
  size?: number;
  rate?: number;
  downloadRate?: number;
  uploadRate?: number;
  seeders?: number;
  seederRate?: number;
  originRate?: number;
  warm?: boolean;
  cold?: boolean;
  waves?: number[];
  waveGap?: number;
  startSpread?: number;
  seed?: number;
  out?: string;
  json?: boolean;
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`"${value}" is not a whole number >= 1`);
  return n;
}

function parseInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`"${value}" is not an integer`);
  return n;
}

/** "0.125,0.875": the share of nodes in each wave. */
function parseWaves(value: string): number[] {
  const shares = value.split(',').map((s) => Number(s.trim()));
  if (shares.some((s) => !(s > 0))) throw new InvalidArgumentError(`"${value}" is not a list of shares, e.g. 0.125,0.875`);
  return shares;
}

/** "direct,cache,aria2" or "all": the baselines to run after Shoal. */
function parseCompare(value: string): Baseline[] {
  if (value.trim() === 'all') return [...BASELINES];
  const names = splitList(value);
  for (const name of names) {
    if (!(BASELINES as readonly string[]).includes(name)) throw new InvalidArgumentError(`"${name}" is not a baseline (${BASELINES.join(', ')}, or all)`);
  }
  return names as Baseline[];
}

/** The options every scenario-driven bench command takes. */
function scenarioOptions(command: Command): Command {
  return command
    .addOption(option('--nodes <n>', 'agents (the tracker/seeder comes on top)').argParser(parseCount))
    .addOption(option('--size <bytes>', 'size of the scenario\u2019s only blob (e.g. 512Mi)').argParser(parseBytes))
    .addOption(option('--rate <bytes/s>', 'each node\u2019s download and upload link (e.g. 25MB/s)').argParser(parseBytes))
    .addOption(option('--download-rate <bytes/s>', 'each node\u2019s download link').argParser(parseBytes))
    .addOption(option('--upload-rate <bytes/s>', 'each node\u2019s upload link').argParser(parseBytes))
    .addOption(option('--seeders <n>', 'seeders (simulation; a real rollout runs one)').argParser(parseCount))
    .addOption(option('--seeder-rate <bytes/s>', 'upload of the seeder, the central cache and the aria2 seeder').argParser(parseBytes))
    .addOption(option('--origin-rate <bytes/s>', 'the origin\u2019s link').argParser(parseBytes))
    .addOption(option('--warm', 'the seeder holds the blobs before the rollout (preheated)'))
    .addOption(option('--cold', 'the seeder fetches the blobs from the origin when the rollout asks'))
    .addOption(option('--waves <shares>', 'share of nodes per wave, canary first, e.g. 0.125,0.875').argParser(parseWaves))
    .addOption(option('--wave-gap <duration>', 'pause between a wave\u2019s completion and the next wave').argParser(parseDuration))
    .addOption(option('--start-spread <duration>', 'nodes of a wave start spread over this long').argParser(parseDuration))
    .addOption(option('--seed <n>', 'random seed of the simulation').argParser(parseInteger))
    .addOption(option('--out <dir>', 'where report.json, report.txt and report.svg go (default: bench/results/<scenario>)'))
    .addOption(option('--json', 'print the JSON report instead of the text one'));
}

async function resolveScenario(name: string, flags: ScenarioFlags): Promise<Scenario> {
  if (flags.warm && flags.cold) throw new InvalidArgumentError('--warm and --cold exclude each other');
  const overrides: ScenarioOverrides = {
    ...(flags.nodes === undefined ? {} : { nodes: flags.nodes }),
    ...(flags.size === undefined ? {} : { size: flags.size }),
    ...(flags.rate === undefined ? {} : { rate: flags.rate }),
    ...(flags.downloadRate === undefined ? {} : { downloadRate: flags.downloadRate }),
    ...(flags.uploadRate === undefined ? {} : { uploadRate: flags.uploadRate }),
    ...(flags.seeders === undefined ? {} : { seeders: flags.seeders }),
    ...(flags.seederRate === undefined ? {} : { seederRate: flags.seederRate }),
    ...(flags.originRate === undefined ? {} : { originRate: flags.originRate }),
    ...(flags.warm ? { warm: true } : flags.cold ? { warm: false } : {}),
    ...(flags.waves === undefined ? {} : { waves: flags.waves }),
    ...(flags.waveGap === undefined ? {} : { waveGap: flags.waveGap / 1000 }),
    ...(flags.startSpread === undefined ? {} : { startSpread: flags.startSpread / 1000 }),
    ...(flags.seed === undefined ? {} : { seed: flags.seed }),
  };
  return applyOverrides(await loadScenario(name), overrides);
}

async function finish(report: BenchReport, flags: ScenarioFlags): Promise<void> {
  const paths = await writeReport(report, flags.out ?? join(RESULTS_DIR, String(report.scenario.name)));
  process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : renderText(report));
  process.stderr.write(`report: ${paths.json}, ${paths.text}, ${paths.svg}\n`);
}

/** A one-line status on a terminal (stderr), silent elsewhere. */
function statusLine(): { update(text: string): void; done(): void } {
  const tty = process.stderr.isTTY === true;
  let shown = false;
  return {
    update(text) {
      if (!tty) return;
      process.stderr.write(`\r${text}\x1b[K`);
      shown = true;
    },
    done() {
      if (tty && shown) process.stderr.write('\r\x1b[K');
    },
  };
}

/** `shoal bench rollout` and `shoal bench simulate`: fleet rollouts on real processes and in the model. */
export function benchCommand(): Command {
  const bench = new Command('bench').description('rollout benchmarks: real processes on this machine, or the fleet model');

  const simulate = scenarioOptions(
    new Command('simulate')
      .description('simulate a rollout to a fleet (piece-level, the agent\u2019s own policies) and report it like a real one')
      .argument('[scenario]', 'a name in bench/scenarios/ or a path to a scenario file', 'kraken'),
  ).action(async (name: string, flags: ScenarioFlags) => {
    const scenario = await resolveScenario(name, flags);
    const status = statusLine();
    const report = runSimulation(scenario, {
      onProgress: (seconds, done, nodes) => status.update(`simulating ${scenario.name}: t=${seconds.toFixed(2)} s, ${done}/${nodes} nodes done`),
    });
    status.done();
    await finish(report, flags);
  });

  const rollout = scenarioOptions(
    new Command('rollout')
      .description('roll a scenario out to real agent processes on this machine (capped links), with baselines side by side')
      .argument('[scenario]', 'a name in bench/scenarios/ or a path to a scenario file', '16x512-warm'),
  )
    .addOption(option('--compare <baselines>', `baselines to run after Shoal: ${BASELINES.join(', ')}, comma-separated, or all`).argParser(parseCompare))
    .addOption(option('--simulate', 'also simulate the scenario and check the model against the measurement'))
    .addOption(option('--keep', 'keep the run\u2019s files (blobs, stores, logs)'))
    .action(async (name: string, flags: ScenarioFlags & { compare?: Baseline[]; simulate?: boolean; keep?: boolean }) => {
      const scenario = await resolveScenario(name, flags);
      const report = await runRollout(scenario, {
        compare: flags.compare ?? [],
        simulate: Boolean(flags.simulate),
        keep: Boolean(flags.keep),
      });
      await finish(report, flags);
    });

  return bench.addCommand(rollout).addCommand(simulate);
}
