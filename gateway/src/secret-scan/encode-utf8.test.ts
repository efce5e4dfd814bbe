import { describe, expect, it } from 'vitest';
import { encodeUtf8 } from './encode-utf8.ts';

describe('encodeUtf8', () => {
  const piece = 1 << 18;

  it('gives the bytes Buffer.from gives, short and long, one-byte and two-byte, pieces joined', () => {
    const texts = [
      'short é 😀',
      'a'.repeat(70_000),
      `${'a'.repeat(piece - 1)}😀${'b'.repeat(piece)}`,
      `${'é→ '.repeat(2 * piece)}😀`,
      `${'x→😀'.repeat(5 * piece)}`,
    ];
    for (const text of texts) expect(encodeUtf8(text).equals(Buffer.from(text, 'utf8'))).toBe(true);
  });

  it('writes U+FFFD for a lone surrogate, as Buffer.from does', () => {
    for (const text of [`${'a'.repeat(100_000)}\ud800b`, `${'a'.repeat(piece - 1)}\udbff`, `\udc00${'→'.repeat(100_000)}`]) {
      expect(encodeUtf8(text).equals(Buffer.from(text, 'utf8'))).toBe(true);
    }
  });

  it('returns bytes that stay valid when they do not fit the shared space', () => {
    const long = '→'.repeat(2 * 1024 * 1024);
    const first = encodeUtf8(long);
    encodeUtf8('é'.repeat(100_000));
    expect(first.equals(Buffer.from(long, 'utf8'))).toBe(true);
  });
});
