import { describe, expect, it } from 'vitest';
import { ErrorCode, ShoalError, digestHex, isDigest, parseDigest } from '../src/index.ts';

const HEX = 'a'.repeat(64);

describe('parseDigest', () => {
  it('accepts sha256 with 64 lowercase hex digits', () => {
    expect(parseDigest(`sha256:${HEX}`)).toBe(`sha256:${HEX}`);
    expect(digestHex(parseDigest(`sha256:${HEX}`))).toBe(HEX);
  });

  it.each([
    ['upper case', `sha256:${'A'.repeat(64)}`],
    ['short', `sha256:${'a'.repeat(63)}`],
    ['long', `sha256:${'a'.repeat(65)}`],
    ['other algorithm', `sha512:${'a'.repeat(128)}`],
    ['no algorithm', HEX],
    ['path traversal', `sha256:../../${'a'.repeat(58)}`],
    ['trailing newline', `sha256:${HEX}\n`],
    ['leading space', ` sha256:${HEX}`],
    ['empty', ''],
    ['not a string', 42],
  ])('rejects %s', (_name, value) => {
    expect(isDigest(value)).toBe(false);
    expect(() => parseDigest(value)).toThrow(ShoalError);
    try {
      parseDigest(value);
    } catch (err) {
      expect((err as ShoalError).code).toBe(ErrorCode.INVALID_DIGEST);
    }
  });
});
