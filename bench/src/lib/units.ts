const UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, ki: 2 ** 10, mi: 2 ** 20, gi: 2 ** 30 };

/** "512Mi", "2Gi", "25M": a byte count (or a rate, for "/s"). */
export function parseSize(value: string): number {
  const match = /^(\d+(?:\.\d+)?)([kmg]i?)?b?(?:\/s)?$/i.exec(value.trim());
  if (!match) throw new Error(`not a size: ${value}`);
  return Math.round(Number(match[1]) * UNITS[(match[2] ?? '').toLowerCase()]!);
}
