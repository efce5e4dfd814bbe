import { describe, expect, it } from 'vitest';
import { modelSpecSchema } from './model.ts';

const valid = {
  name: 'claude-sonnet-5',
  providerRef: { name: 'anthropic' },
  upstreamModel: 'claude-sonnet-5',
  pricing: { input: 3, output: 15 },
};

describe('modelSpecSchema', () => {
  it('accepts the model names clients really send', () => {
    for (const name of ['gpt-5', 'claude-opus-4-5-20251101', 'anthropic/claude-sonnet-5', 'llama3.1:70b', 'anthropic.claude-v2:1']) {
      expect(modelSpecSchema.safeParse({ ...valid, name }).success, name).toBe(true);
    }
  });

  it('refuses negative prices and an alias that repeats the name', () => {
    expect(modelSpecSchema.safeParse({ ...valid, pricing: { input: -1, output: 15 } }).error?.issues[0]?.path).toEqual([
      'pricing',
      'input',
    ]);
    expect(modelSpecSchema.safeParse({ ...valid, aliases: ['claude-sonnet-5'] }).error?.issues).toMatchObject([
      { path: ['aliases'], message: 'aliases must not repeat name' },
    ]);
  });
});
