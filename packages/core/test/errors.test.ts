import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ErrorCode, ShoalError, httpStatusOf } from '../src/index.ts';

describe('error codes', () => {
  it('are all documented in docs/errors.md with the status the daemons answer with', async () => {
    const doc = await readFile(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    const rows = new Map<string, string>();
    for (const match of doc.matchAll(/^\| `([A-Z_]+)` \| (\d+)/gm)) rows.set(match[1]!, match[2]!);
    expect([...rows.keys()].sort()).toEqual(Object.values(ErrorCode).sort());
    for (const code of Object.values(ErrorCode)) {
      expect(rows.get(code), code).toBe(String(httpStatusOf(new ShoalError(code, 'x'))));
    }
  });
});
