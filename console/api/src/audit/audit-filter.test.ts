import { CodeVectorError } from '@codevector/core/errors';
import { describe, expect, it } from 'vitest';
import { canonicalAuditRow, chainHash } from './audit-chain.ts';
import { auditFilterSchema, decodeCursor, encodeCursor, likePattern } from './audit-filter.ts';

describe('audit filters', () => {
  it('round-trips cursors at microsecond precision and refuses forged ones', () => {
    const cursor = { at: '2030-01-02T03:04:05.123456Z', id: 42 };
    expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
    expect(() => decodeCursor('bm9wZQ')).toThrow(CodeVectorError);
  });

  it('escapes LIKE wildcards in the action text', () => {
    expect(likePattern('rate_limit%')).toBe('%rate\\_limit\\%%');
  });

  it('drops empty filters and rejects invalid dates', () => {
    expect(auditFilterSchema.parse({ action: '  ', actor: 'a@example.com' })).toEqual({ actor: 'a@example.com' });
    expect(auditFilterSchema.safeParse({ from: 'yesterday' }).success).toBe(false);
  });
});

describe('audit chain hashing', () => {
  const row = {
    id: 1,
    at_us: '1893456000000000',
    action: 'group.created',
    target_type: 'group',
    target_id: null,
    target_name: 'platform',
    actor: 'a@example.com',
    actor_source: 'console',
    detail: { b: 1, a: { y: 2, x: 1 } },
    request_id: null,
  };
  it('is independent of key order in detail and changes with any field', () => {
    const reordered = { ...row, detail: { a: { x: 1, y: 2 }, b: 1 } };
    expect(canonicalAuditRow(reordered)).toBe(canonicalAuditRow(row));
    const genesis = Buffer.alloc(32);
    expect(chainHash(genesis, reordered).equals(chainHash(genesis, row))).toBe(true);
    expect(chainHash(genesis, { ...row, actor: 'b@example.com' }).equals(chainHash(genesis, row))).toBe(false);
    expect(chainHash(Buffer.alloc(32, 1), row).equals(chainHash(genesis, row))).toBe(false);
  });
});
