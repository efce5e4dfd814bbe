import { describe, expect, it } from 'vitest';
import { displayUsd, formatUsd, fractionOf, parseUsd, pricePerToken } from './money.ts';

describe('money', () => {
  it('parses and formats decimals exactly, to the picodollar', () => {
    expect(parseUsd('12.50')).toBe(12_500_000_000_000n);
    expect(parseUsd('500')).toBe(500_000_000_000_000n);
    expect(parseUsd('-0.000001')).toBe(-1_000_000n);
    expect(parseUsd('0.000000000001')).toBe(1n);
    expect(formatUsd(parseUsd('0.10'))).toBe('0.1');
    expect(formatUsd(0n)).toBe('0');
    expect(formatUsd(-1n)).toBe('-0.000000000001');
    expect(formatUsd(parseUsd('999999999.999999'))).toBe('999999999.999999');
  });
  it('refuses what is not a plain decimal or finer than a picodollar', () => {
    expect(() => parseUsd('1e3')).toThrow(RangeError);
    expect(() => parseUsd('0.1.2')).toThrow(RangeError);
    expect(() => parseUsd('0.0000000000001')).toThrow(/more than 12 decimals/);
    expect(() => parseUsd('')).toThrow(RangeError);
  });
  it('turns a price per million tokens into whole picodollars per token', () => {
    expect(pricePerToken(3)).toBe(3_000_000n);
    expect(pricePerToken(0.075)).toBe(75_000n);
    // 3.3 is 3.29999999999999982236431605997495353221893310546875 as a double.
    expect(pricePerToken(3.3)).toBe(3_300_000n);
    expect(pricePerToken(0.000001)).toBe(1n);
    expect(pricePerToken(0)).toBe(0n);
    expect(() => pricePerToken(-1)).toThrow(RangeError);
    expect(() => pricePerToken(Number.NaN)).toThrow(RangeError);
  });
  it('rounds only for display, half away from zero', () => {
    expect(displayUsd(parseUsd('0.105'))).toBe('$0.11');
    expect(displayUsd(parseUsd('0.104999'))).toBe('$0.10');
    expect(displayUsd(parseUsd('-2.5'), 0)).toBe('-$3');
    expect(displayUsd(parseUsd('-0.001'))).toBe('$0.00');
    expect(displayUsd(parseUsd('1234.5'))).toBe('$1234.50');
  });
  it('takes fractions rounding down, so a slice never exceeds its share', () => {
    expect(fractionOf(parseUsd('0.10'), 0.01)).toBe(parseUsd('0.001'));
    expect(fractionOf(3n, 0.5)).toBe(1n);
  });
});
