import { describe, expect, it } from 'vitest';
import { secretDetectorPacks, secretRuleSpecSchema } from './secret-rule.ts';

const pattern = { name: 'acme-token', regex: '\\bacme_[0-9a-f]{32}\\b', keywords: ['acme_'] };

describe('secretRuleSpecSchema', () => {
  it('accepts packs, patterns or both, defaulting severity to high and action to block', () => {
    expect(secretRuleSpecSchema.parse({ detectors: ['all'] })).toEqual({ detectors: ['all'], severity: 'high', action: 'block' });
    expect(secretRuleSpecSchema.safeParse({ patterns: [pattern] }).success).toBe(true);
    expect(secretRuleSpecSchema.safeParse({ detectors: ['vcs'], patterns: [pattern], severity: 'critical' }).success).toBe(true);
  });

  it('needs detectors or patterns', () => {
    expect(secretRuleSpecSchema.safeParse({ severity: 'low' }).error?.issues).toMatchObject([
      { path: [], message: 'set detectors, patterns or both' },
    ]);
  });

  it('refuses unknown packs, listing the known ones', () => {
    const message = secretRuleSpecSchema.safeParse({ detectors: ['aws'] }).error?.issues[0]?.message;
    for (const pack of Object.keys(secretDetectorPacks)) expect(message).toContain(`"${pack}"`);
  });

  it('needs a keyword per pattern, so the prefilter can skip the regex on most requests', () => {
    const result = secretRuleSpecSchema.safeParse({ patterns: [{ ...pattern, keywords: [] }] });
    expect(result.error?.issues[0]?.path).toEqual(['patterns', 0, 'keywords']);
  });

  it('refuses two patterns with one name', () => {
    const result = secretRuleSpecSchema.safeParse({ patterns: [pattern, { ...pattern, regex: 'x' }] });
    expect(result.error?.issues).toMatchObject([{ path: ['patterns'], message: 'pattern names must be unique' }]);
  });
});
