/**
 * The report's chart, as a hand-written SVG (no chart library): on the left the completion
 * CDF of every system (share of nodes done against seconds since each node started, with the
 * ideal S/B marked), on the right the origin's egress over time in copies of the rollout.
 */
import type { BenchReport, SystemResult } from './types.ts';

const WIDTH = 1000;
const HEIGHT = 420;
const PANEL = { top: 70, bottom: 60, left: 70, gap: 90, right: 30 };
const COLORS: Record<string, string> = {
  shoal: '#1f77b4',
  'shoal-model': '#1f77b4',
  direct: '#d62728',
  cache: '#ff7f0e',
  aria2: '#2ca02c',
};
const FALLBACK_COLORS = ['#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

export function renderSvg(report: BenchReport): string {
  const panelWidth = (WIDTH - PANEL.left - PANEL.gap - PANEL.right) / 2;
  const panelHeight = HEIGHT - PANEL.top - PANEL.bottom;
  const scenario = report.scenario as { name: string; description: string };
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${PANEL.left}" y="20" font-size="15" font-weight="bold">${escape(scenario.name)}</text>`,
    `<text x="${PANEL.left + scenario.name.length * 10 + 14}" y="20" fill="#444">${escape(clip(scenario.description, 125 - scenario.name.length))}</text>`,
  );
  parts.push(legend(report.systems));

  // Left: completion CDF.
  const doneTimes = report.systems.flatMap((s) => s.nodes.map((n) => n.seconds).filter((v): v is number => v !== null));
  const xMaxCdf = niceCeil(Math.max(report.idealSeconds * 1.1, ...doneTimes) * 1.05);
  // Start near the ideal, not at 0: every node takes at least that long, and the spread after it is the story.
  const xMinCdf = niceFloor(0.9 * Math.min(report.idealSeconds, ...doneTimes));
  const left = { x: PANEL.left, y: PANEL.top, w: panelWidth, h: panelHeight };
  parts.push(axes(left, xMaxCdf, 1, 'seconds from the node\u2019s start', 'nodes complete', (v) => `${Math.round(v * 100)}%`, xMinCdf));
  const ix = left.x + ((report.idealSeconds - xMinCdf) / (xMaxCdf - xMinCdf)) * left.w;
  parts.push(
    `<line x1="${f(ix)}" y1="${left.y}" x2="${f(ix)}" y2="${left.y + left.h}" stroke="#444" stroke-dasharray="4 3"/>`,
    `<text x="${f(ix + 4)}" y="${left.y + left.h - 8}" fill="#444">ideal S/B ${report.idealSeconds.toFixed(1)} s</text>`,
  );
  for (const [i, sys] of report.systems.entries()) {
    const times = sys.nodes.map((n) => n.seconds).filter((v): v is number => v !== null).sort((a, b) => a - b);
    if (times.length === 0) continue;
    const total = sys.nodes.length;
    // A step up at each completion: the share of all nodes (done or not) complete by then.
    const points: Array<[number, number]> = [[xMinCdf, 0]];
    times.forEach((t, k) => {
      points.push([t, k / total], [t, (k + 1) / total]);
    });
    points.push([xMaxCdf, times.length / total]);
    parts.push(polyline(points, left, xMaxCdf, 1, color(sys.system, i), sys.system.endsWith('model'), xMinCdf));
  }
  parts.push(`<text x="${left.x + left.w / 2}" y="${PANEL.top - 8}" text-anchor="middle" font-weight="bold">completion (CDF)</text>`);

  // Right: origin egress in copies.
  const timelines = report.systems.map((s) => s.origin.timeline);
  const bytesPerCopy = report.systems[0] ? report.systems[0].origin.bytes / Math.max(report.systems[0].origin.copies, 1e-9) : 1;
  const tMin = Math.min(0, ...timelines.flatMap((t) => t.map(([x]) => x)));
  const tMax = niceCeil(Math.max(xMaxCdf, ...timelines.flatMap((t) => t.map(([x]) => x)), ...report.systems.map((s) => s.makespanSeconds ?? 0)));
  const copiesMax = niceCeil(Math.max(1.2, ...report.systems.map((s) => s.origin.copies)) * 1.1);
  const right = { x: PANEL.left + panelWidth + PANEL.gap, y: PANEL.top, w: panelWidth, h: panelHeight };
  parts.push(axes(right, tMax, copiesMax, 'seconds since the rollout started', 'origin egress (copies)', (v) => trim(v), tMin));
  for (const [i, sys] of report.systems.entries()) {
    const copies = sys.origin.copies;
    const perCopy = copies > 0 ? sys.origin.bytes / copies : bytesPerCopy;
    const points = sys.origin.timeline.map(([t, b]): [number, number] => [t, perCopy > 0 ? b / perCopy : 0]);
    if (points.length === 0) continue;
    points.push([tMax, points[points.length - 1]![1]]);
    parts.push(polyline(points, right, tMax, copiesMax, color(sys.system, i), sys.system.endsWith('model'), tMin));
  }
  parts.push(`<text x="${right.x + right.w / 2}" y="${PANEL.top - 8}" text-anchor="middle" font-weight="bold">origin egress over time</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

function axes(box: Box, xMax: number, yMax: number, xLabel: string, yLabel: string, yFormat: (v: number) => string, xMin = 0): string {
  const out: string[] = [`<rect x="${box.x}" y="${box.y}" width="${box.w}" height="${box.h}" fill="none" stroke="#999"/>`];
  for (const v of ticks(xMin, xMax)) {
    const x = box.x + ((v - xMin) / (xMax - xMin)) * box.w;
    out.push(
      `<line x1="${f(x)}" y1="${box.y}" x2="${f(x)}" y2="${box.y + box.h}" stroke="#eee"/>`,
      `<text x="${f(x)}" y="${box.y + box.h + 16}" text-anchor="middle">${trim(v)}</text>`,
    );
  }
  for (const v of ticks(0, yMax)) {
    const y = box.y + box.h - (v / yMax) * box.h;
    out.push(
      `<line x1="${box.x}" y1="${f(y)}" x2="${box.x + box.w}" y2="${f(y)}" stroke="#eee"/>`,
      `<text x="${box.x - 6}" y="${f(y + 4)}" text-anchor="end">${yFormat(v)}</text>`,
    );
  }
  out.push(
    `<text x="${box.x + box.w / 2}" y="${box.y + box.h + 38}" text-anchor="middle">${escape(xLabel)}</text>`,
    `<text transform="translate(${box.x - 50} ${box.y + box.h / 2}) rotate(-90)" text-anchor="middle">${escape(yLabel)}</text>`,
  );
  return out.join('\n');
}

function polyline(points: Array<[number, number]>, box: Box, xMax: number, yMax: number, stroke: string, dashed: boolean, xMin = 0): string {
  const coords = points
    .map(([x, y]) => `${f(box.x + ((Math.min(Math.max(x, xMin), xMax) - xMin) / (xMax - xMin)) * box.w)},${f(box.y + box.h - (Math.min(y, yMax) / yMax) * box.h)}`)
    .join(' ');
  return `<polyline fill="none" stroke="${stroke}" stroke-width="2"${dashed ? ' stroke-dasharray="6 4"' : ''} points="${coords}"/>`;
}

function legend(systems: readonly SystemResult[]): string {
  const out: string[] = [];
  let x = PANEL.left;
  for (const [i, sys] of systems.entries()) {
    const c = color(sys.system, i);
    out.push(
      `<line x1="${x}" y1="42" x2="${x + 24}" y2="42" stroke="${c}" stroke-width="3"${sys.system.endsWith('model') ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${x + 30}" y="46">${escape(sys.system)}</text>`,
    );
    x += 40 + sys.system.length * 7.5 + 20;
  }
  return out.join('\n');
}

function color(system: string, index: number): string {
  return COLORS[system] ?? FALLBACK_COLORS[index % FALLBACK_COLORS.length]!;
}

/** Round tick values (1, 2, 5 x 10^k) covering [min, max]. */
export function ticks(min: number, max: number, target = 6): number[] {
  const span = max - min;
  if (!(span > 0)) return [min];
  const raw = span / target;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => span / s <= target) ?? 10 * magnitude;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** A round number (1, 2, 5 x 10^k steps) at or below v. */
export function niceFloor(v: number): number {
  if (!(v > 0)) return 0;
  const step = 10 ** Math.floor(Math.log10(v));
  return Math.floor(v / step) * step;
}

/** The next round number (1, 2, 5 x 10^k) at or above v. */
export function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * magnitude >= v) return m * magnitude;
  return 10 * magnitude;
}

function f(v: number): string {
  return v.toFixed(1);
}

function trim(v: number): string {
  return Number(v.toPrecision(6)).toString();
}

function clip(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, Math.max(0, length - 1))}\u2026`;
}

function escape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
