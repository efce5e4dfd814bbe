import { describe, expect, it } from 'vitest';
import { admitWithLeases, type LeaseAttempt } from './lease-admission.ts';

type Answer = { admitted: boolean };

describe('admitWithLeases', () => {
  it('answers synchronously when the first try can', () => {
    const result = admitWithLeases<Answer>(() => ({ admitted: true }), {
      exchangeTries: 5,
      maxTries: 9,
      exhausted: () => ({ admitted: false }),
    });
    expect(result).toEqual({ admitted: true });
  });

  it('waits for the exchange and tries again, exchanging only in the first tries', async () => {
    const seen: boolean[] = [];
    const attempt = (mayExchange: boolean): LeaseAttempt<Answer> => {
      seen.push(mayExchange);
      if (seen.length < 7) return { wait: Promise.resolve() };
      return { admitted: true };
    };
    expect(await admitWithLeases(attempt, { exchangeTries: 5, maxTries: 9, exhausted: () => ({ admitted: false }) })).toEqual({
      admitted: true,
    });
    expect(seen).toEqual([true, true, true, true, true, false, false]);
  });

  it('gives up after maxTries with the exhausted answer, never looping forever on a stuck lease', async () => {
    let tries = 0;
    const attempt = (): LeaseAttempt<Answer> => {
      tries++;
      return { wait: Promise.resolve() };
    };
    expect(await admitWithLeases(attempt, { exchangeTries: 5, maxTries: 9, exhausted: () => ({ admitted: false }) })).toEqual({
      admitted: false,
    });
    expect(tries).toBe(9);
  });
});
