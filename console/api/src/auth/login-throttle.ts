import { type DatabasePool, sql, statement } from '@codevector/core/create-pool';
import { CodeVectorError } from '@codevector/core/errors';
import { z } from 'zod';

export type ThrottleLimits = { maxFailures: number; windowSeconds: number; lockSeconds: number };

/** Per-email and per-address defaults: a person mistypes a few times; a script does not stop. */
export const defaultThrottle = {
  email: { maxFailures: 5, windowSeconds: 900, lockSeconds: 900 },
  ip: { maxFailures: 50, windowSeconds: 900, lockSeconds: 900 },
} satisfies Record<string, ThrottleLimits>;

/**
 * Counts failed sign-ins in PostgreSQL so every console replica enforces the same lock. The
 * lock is checked before the password is, so a locked account costs no argon2 work.
 */
export function createLoginThrottle(pool: DatabasePool, limits: { email: ThrottleLimits; ip: ThrottleLimits } = defaultThrottle) {
  const keys = (email: string, ip: string) => [
    { key: `email:${email.toLowerCase()}`, limits: limits.email },
    { key: `ip:${ip}`, limits: limits.ip },
  ];
  return {
    /** @throws CodeVectorError CON_THROTTLED while either key is locked. */
    async assertAllowed(email: string, ip: string): Promise<void> {
      const locked = await pool.maybeOne(sql.type(z.object({ seconds: z.number() }))`
        select ceil(extract(epoch from max(locked_until) - now()))::int as seconds from login_failures
        where key = any(${sql.array(
          keys(email, ip).map((k) => k.key),
          'text',
        )}) and locked_until > now() having max(locked_until) is not null`);
      if (locked) throw new CodeVectorError('CON_THROTTLED', undefined, { details: { retryAfterSeconds: locked.seconds } });
    },
    async recordFailure(email: string, ip: string): Promise<void> {
      for (const { key, limits: l } of keys(email, ip)) {
        await pool.query(statement`
          insert into login_failures (key, failures, window_started_at) values (${key}, 1, now())
          on conflict (key) do update set
            failures = case when login_failures.window_started_at < now() - make_interval(secs => ${l.windowSeconds})
                            then 1 else login_failures.failures + 1 end,
            window_started_at = case when login_failures.window_started_at < now() - make_interval(secs => ${l.windowSeconds})
                            then now() else login_failures.window_started_at end,
            locked_until = case when login_failures.window_started_at >= now() - make_interval(secs => ${l.windowSeconds})
                                 and login_failures.failures + 1 >= ${l.maxFailures}
                            then now() + make_interval(secs => ${l.lockSeconds}) else login_failures.locked_until end`);
      }
    },
    /** A successful sign-in clears the e-mail's count (not the address's: one good password must not unlock a spray). */
    async recordSuccess(email: string): Promise<void> {
      await pool.query(statement`delete from login_failures where key = ${`email:${email.toLowerCase()}`}`);
    },
  };
}
export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
