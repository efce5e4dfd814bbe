import { pricePerToken } from '@codevector/core/money';
import { describe, expect, it } from 'vitest';
import type { RoutedModel } from '../../snapshot-store.ts';
import { createOutputEstimator } from '../../usage.ts';
import { estimateCost } from './reserve-budget.ts';

const routed = {
  model: {
    modelName: 'm',
    pricing: { input: pricePerToken(3), output: pricePerToken(15), cacheRead: pricePerToken(0.3), cacheWrite: pricePerToken(3.75) },
  },
} as RoutedModel;

describe('estimateCost', () => {
  it('is exact: bytes/3 input tokens and the expected output at the prices, in picodollars', () => {
    const estimator = createOutputEstimator({ fallback: 100 });
    const estimate = estimateCost(routed, { max_tokens: 50 }, 3000, estimator);
    // 1000 input tokens at $3/M + min(50, 100) output tokens at $15/M = $0.003 + $0.00075.
    expect(estimate.expected).toBe(1000n * 3_000_000n + 50n * 15_000_000n);
    // Worst: every byte a token at the dearest input price ($3.75/M) plus max_tokens of output.
    expect(estimate.worst).toBe(3000n * 3_750_000n + 50n * 15_000_000n);
  });
  it('falls back to the default worst output for a missing, fractional or absurd max_tokens', () => {
    const estimator = createOutputEstimator({ fallback: 100 });
    for (const max of [undefined, 1.5, 1e300, -3, '10']) {
      expect(estimateCost(routed, { max_tokens: max }, 0, estimator).worst).toBe(128_000n * 15_000_000n);
    }
  });
});
