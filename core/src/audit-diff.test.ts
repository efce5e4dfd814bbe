import { describe, expect, it } from 'vitest';
import { auditDiff } from './audit-diff.ts';

describe('auditDiff', () => {
  it('shows only the fields that changed, nested', () => {
    const before = { type: 'anthropic', baseURL: 'https://a', pricing: { input: 3, output: 15 } };
    const after = { type: 'anthropic', baseURL: 'https://a', pricing: { input: 3, output: 12 } };
    expect(auditDiff(before, after)).toEqual({ before: { pricing: { output: 15 } }, after: { pricing: { output: 12 } } });
  });

  it('returns null when nothing changed, whatever the key order', () => {
    expect(auditDiff({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).toBeNull();
  });

  it('records added and removed keys on one side only', () => {
    expect(auditDiff({ a: 1, gone: true }, { a: 1, added: 'x' })).toEqual({ before: { gone: true }, after: { added: 'x' } });
  });

  it('treats arrays as whole values', () => {
    expect(auditDiff({ aliases: ['a', 'b'] }, { aliases: ['a'] })).toEqual({ before: { aliases: ['a', 'b'] }, after: { aliases: ['a'] } });
  });

  it('shows the whole object on create and delete', () => {
    expect(auditDiff(null, { a: 1 })).toEqual({ before: null, after: { a: 1 } });
    expect(auditDiff({ a: 1 }, undefined)).toEqual({ before: { a: 1 }, after: null });
    expect(auditDiff(null, null)).toBeNull();
  });
});
