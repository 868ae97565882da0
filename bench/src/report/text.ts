/**
 * The report as text for a terminal: the systems side by side, the targets, notes, and where
 * each node's bytes came from.
 */
import { formatBytes, formatRate } from '../lib/units.ts';
import type { BenchReport, NodeFigures, SystemResult } from './types.ts';

/** Per-node tables are printed up to this many nodes (the JSON always has them all). */
const MAX_NODE_ROWS = 64;

export function renderText(report: BenchReport): string {
  const s = report.scenario as { name: string; description: string; downloadRate: number; uploadRate: number; seederRate: number; originRate: number; seeders: number; warm: boolean; waves: number[] };
  const lines: string[] = [];
  lines.push(`${s.name}: ${s.description}`);
  const link = s.downloadRate === s.uploadRate ? formatRate(s.downloadRate) : `${formatRate(s.downloadRate)} down / ${formatRate(s.uploadRate)} up`;
  lines.push(
    `ideal S/B ${report.idealSeconds.toFixed(2)} s at ${link} per node; ${s.seeders} seeder(s) at ${formatRate(s.seederRate)}; ` +
      `origin ${formatRate(s.originRate)}; ${s.warm ? 'preheated' : 'cold'}; waves ${s.waves.join(' + ')}; links: ${report.links}`,
  );
  lines.push(`machine: ${report.machine.cpus} cores (${report.machine.cpuModel}), Node ${report.machine.node}, ${report.createdAt}`);
  lines.push('');
  // p99.9 says something only with a thousand nodes or so (below, it is the slowest node).
  const fleet = report.systems.some((sys) => sys.nodes.length >= 1000);
  const withFleet = <T,>(cells: T[], p999: T[]): T[] => (fleet ? [...cells.slice(0, 3), ...p999, ...cells.slice(3)] : cells);
  lines.push(...table(
    [
      'system',
      'done',
      ...withFleet(['p50 s', 'p90 s', 'p99 s', 'max s'], ['p99.9 s']),
      ...withFleet(['p50/ideal', 'p90', 'p99', 'max'], ['p99.9']),
      'origin copies',
      'server copies',
      'peak RSS',
      'CPU busy mean/peak',
    ],
    report.systems.map((sys) => [
      sys.system,
      `${sys.complete}/${sys.nodes.length}`,
      ...withFleet([num(sys.completion?.p50), num(sys.completion?.p90), num(sys.completion?.p99), num(sys.completion?.max)], [num(sys.completion?.p999)]),
      ...withFleet([ratio(sys.ratio?.p50), ratio(sys.ratio?.p90), ratio(sys.ratio?.p99), ratio(sys.ratio?.max)], [ratio(sys.ratio?.p999)]),
      sys.origin.copies.toFixed(2),
      sys.server ? sys.server.copies.toFixed(2) : '-',
      sys.memory ? formatBytes(sys.memory.peakRssMaxBytes) : '-',
      sys.cpu ? `${pct(sys.cpu.busyMean)}/${pct(sys.cpu.busyPeak)}${sys.cpu.limited ? ' (!)' : ''}` : '-',
    ]),
  ));
  for (const sys of report.systems) lines.push(`  ${sys.system}: ${sys.label}`);
  if (report.checks.length > 0) {
    lines.push('', 'targets');
    for (const check of report.checks) {
      const verdict = check.pass === null ? 'open' : check.pass ? 'PASS' : 'MISS';
      const value =
        check.target.metric === 'fasterThan'
          ? `${num(check.value ?? undefined)} s vs ${num(check.reference ?? undefined)} s`
          : check.target.metric === 'origin.copies'
            ? `${check.value === null ? '-' : check.value.toFixed(2)} copies`
            : `${ratio(check.value ?? undefined)}`;
      lines.push(`  ${verdict.padEnd(5)} ${check.description}: ${value}`);
    }
  }
  if (report.validation) {
    lines.push('', 'model against measurement');
    for (const v of report.validation) {
      lines.push(`  ${v.pass ? 'PASS' : 'MISS'}  ${v.metric}: measured ${v.measured.toFixed(2)} s, predicted ${v.predicted.toFixed(2)} s (${(v.difference * 100).toFixed(1)}%, tolerance ${(v.tolerance * 100).toFixed(0)}%)`);
    }
  }
  const notes = report.systems.flatMap((sys) => sys.notes.map((n) => `  ${sys.system}: ${n}`));
  if (notes.length > 0) lines.push('', 'notes', ...notes);
  for (const sys of report.systems) {
    if (sys.nodes.length === 0) continue;
    lines.push('', `per node: ${sys.system}`);
    lines.push(...nodeTable(sys));
  }
  return `${lines.join('\n')}\n`;
}

function nodeTable(sys: SystemResult): string[] {
  const withBytes = sys.nodes.some((n) => n.bytes !== null);
  if (sys.nodes.length > MAX_NODE_ROWS) {
    // Thousands of nodes: the spread of each figure instead of every row.
    const spread = (pick: (n: NodeFigures) => number | null, format: (v: number) => string) => {
      const values = sys.nodes.map(pick).filter((v): v is number => v !== null).sort((a, b) => a - b);
      if (values.length === 0) return '-';
      return `${format(values[0]!)} .. ${format(values[Math.floor(values.length / 2)]!)} .. ${format(values[values.length - 1]!)}`;
    };
    const rows = [
      ['seconds (min .. median .. max)', spread((n) => n.seconds, (v) => v.toFixed(2))],
      ['ratio to ideal', spread((n) => n.ratio, (v) => v.toFixed(3))],
    ];
    if (withBytes) {
      rows.push(['from peers', spread((n) => n.bytes?.peer ?? null, formatBytes)]);
      rows.push(['from seeders', spread((n) => n.bytes?.seeder ?? null, formatBytes)]);
      rows.push(['from the origin', spread((n) => n.bytes?.origin ?? null, formatBytes)]);
      rows.push(['uploaded to peers', spread((n) => n.uploadedBytes, formatBytes)]);
    }
    return table(['figure', `over ${sys.nodes.length} nodes`], rows);
  }
  const header = ['node', 'wave', 'start s', 'seconds', 'ratio'];
  if (withBytes) header.push('from peers', 'from seeder', 'from origin', 'uploaded');
  header.push('peak RSS', 'CPU s');
  return table(
    header,
    sys.nodes.map((n) => {
      const row = [n.name, String(n.wave), n.startedAt.toFixed(2), num(n.seconds ?? undefined), ratio(n.ratio ?? undefined)];
      if (withBytes) {
        row.push(
          n.bytes ? formatBytes(n.bytes.peer) : '-',
          n.bytes ? formatBytes(n.bytes.seeder) : '-',
          n.bytes ? formatBytes(n.bytes.origin) : '-',
          n.uploadedBytes === null ? '-' : formatBytes(n.uploadedBytes),
        );
      }
      row.push(n.peakRssBytes === null ? '-' : formatBytes(n.peakRssBytes), n.cpuSeconds === null ? '-' : n.cpuSeconds.toFixed(1));
      return row;
    }),
  );
}

/** Left-aligned first column, right-aligned numbers. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

function num(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(2);
}

function ratio(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '-' : `${value.toFixed(2)}x`;
}

function pct(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}
