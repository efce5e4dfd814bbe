import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CodeVectorError, errorCodes } from './errors.ts';

describe('error codes', () => {
  it('are all documented in docs/errors.md with their status', async () => {
    const doc = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const missing = Object.entries(errorCodes)
      .filter(([code, { status }]) => !new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${status}\\s*\\|`).test(doc))
      .map(([code]) => code);
    expect(missing).toEqual([]);
  });

  it('carry one prefix per area', () => {
    for (const code of Object.keys(errorCodes)) expect(code).toMatch(/^(CORE|GW|OP|CON)_[A-Z_]+$/);
  });

  it('map to the table status and default message', () => {
    const error = new CodeVectorError('GW_RATE_LIMITED');
    expect(error.status).toBe(429);
    expect(error.message).toBe(errorCodes.GW_RATE_LIMITED.message);
  });
});
