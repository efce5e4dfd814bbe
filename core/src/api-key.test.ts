import { describe, expect, it } from 'vitest';
import { generateApiKey, hashApiKey } from './api-key.ts';

describe('generateApiKey', () => {
  it('makes distinct cvk_ keys whose hash matches hashApiKey', () => {
    const a = generateApiKey();
    const b = generateApiKey();
    expect(a.key).toMatch(/^cvk_[0-9A-Za-z]{40}$/);
    expect(a.key).not.toBe(b.key);
    expect(a.displayPrefix).toBe(a.key.slice(0, 12));
    expect(hashApiKey(a.key).equals(a.hash)).toBe(true);
  });
});
