import { describe, expect, it } from 'vitest';
import { usdAmountSchema } from './usd-amount.ts';

describe('usdAmountSchema', () => {
  it('keeps amounts exact: integers and decimal strings parse to the decimal string as written', () => {
    expect(usdAmountSchema.parse(500)).toBe('500');
    expect(usdAmountSchema.parse('12.50')).toBe('12.50');
    expect(usdAmountSchema.parse('0.000001')).toBe('0.000001');
  });

  it('rejects floats, zero, negatives, excess precision and huge amounts with one readable message', () => {
    for (const bad of [12.5, 0, -50, '0', '-5', '10.1234567', '1e3', '', 1_000_000_000, '1000000000']) {
      const result = usdAmountSchema.safeParse(bad);
      expect(result.success, String(bad)).toBe(false);
      expect(result.error?.issues[0]?.message).toBe(
        'must be more than 0 and less than 1000000000: a whole number such as 500, or a decimal string such as "12.50" with at most 6 decimal places',
      );
    }
  });
});
