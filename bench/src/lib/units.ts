const UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12, ki: 2 ** 10, mi: 2 ** 20, gi: 2 ** 30, ti: 2 ** 40 };

/**
 * "512Mi", "2Gi", "25M", "3GB": a byte count (or a rate, with "/s"). Decimal units (K, M, G,
 * T: powers of 1000) and binary ones (Ki, Mi, Gi, Ti: powers of 1024); "B" is optional and
 * means bytes in either case (as the shoal CLI reads it), "bit" counts bits: 25Gbit/s.
 */
export function parseSize(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]i?)?(b|bit|bits|byte|bytes)?(?:\/s|ps)?$/i.exec(value.trim());
  if (!match) throw new Error(`"${value}" is not a size or rate (examples: 512Mi, 3GB, 25MB/s, 25Gbit/s)`);
  const unit = UNITS[(match[2] ?? '').toLowerCase()]!;
  const bits = match[3] !== undefined && /^bits?$/i.test(match[3]);
  return Math.round((Number(match[1]) * unit) / (bits ? 8 : 1));
}

/** "500ms", "2s", "1.5m", or a number of seconds: a duration in seconds. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') {
    if (!(value >= 0) || !Number.isFinite(value)) throw new Error(`${value} is not a duration`);
    return value;
  }
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/.exec(value.trim());
  if (!match) throw new Error(`"${value}" is not a duration (examples: 500ms, 2s, 1.5m)`);
  const n = Number(match[1]);
  return match[2] === 'ms' ? n / 1000 : match[2] === 'm' ? n * 60 : n;
}

/** 536870912 -> "512 MiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || Number.isInteger(value) ? 0 : value < 10 ? 2 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** 25e6 -> "25 MB/s" (decimal, as link rates are usually given). */
export function formatRate(bytesPerSecond: number): string {
  const units = ['B/s', 'kB/s', 'MB/s', 'GB/s', 'TB/s'];
  let value = bytesPerSecond;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${Number(value.toFixed(value < 10 ? 2 : 1))} ${units[unit]}`;
}
