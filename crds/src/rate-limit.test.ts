import { describe, expect, it } from 'vitest';
import { rateLimitSpecSchema } from './rate-limit.ts';

describe('rateLimitSpecSchema', () => {
  it('needs requestsPerMinute, tokensPerMinute or both', () => {
    const subject = { kind: 'global' };
    expect(rateLimitSpecSchema.safeParse({ subject, requestsPerMinute: 60 }).success).toBe(true);
    expect(rateLimitSpecSchema.safeParse({ subject, tokensPerMinute: 100_000 }).success).toBe(true);
    expect(rateLimitSpecSchema.safeParse({ subject }).error?.issues).toMatchObject([
      { path: [], message: 'set requestsPerMinute, tokensPerMinute or both' },
    ]);
  });

  it('takes only positive whole numbers', () => {
    for (const requestsPerMinute of [0, -1, 1.5]) {
      expect(rateLimitSpecSchema.safeParse({ subject: { kind: 'global' }, requestsPerMinute }).success, String(requestsPerMinute)).toBe(
        false,
      );
    }
  });
});
