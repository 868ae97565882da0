import { describe, expect, it } from 'vitest';
import { parseBytes, parseDuration } from '../src/index.ts';

describe('command-line values', () => {
  it('parses byte counts and rates in decimal and binary units', () => {
    expect(parseBytes('0')).toBe(0);
    expect(parseBytes('25MB/s')).toBe(25_000_000);
    expect(parseBytes('512Mi')).toBe(512 * 2 ** 20);
    expect(parseBytes('200Gi')).toBe(200 * 2 ** 30);
    expect(parseBytes('1.5G')).toBe(1.5e9);
    expect(() => parseBytes('lots')).toThrow(/not a byte count/);
    expect(() => parseBytes('-5M')).toThrow();
  });

  it('parses durations', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('15s')).toBe(15_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('3')).toBe(3000);
    expect(() => parseDuration('soon')).toThrow();
  });
});
