import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { type DatabasePool, sql, statement } from '@codevector/core/create-pool';
import { CodeVectorError } from '@codevector/core/errors';
import { z } from 'zod';

/**
 * The `free`-th failure and every one after it lock the bucket for base × 2^(n − free) seconds,
 * up to max (n = failures so far). A bucket forgets after `windowSeconds` without failures.
 */
export type BackoffPolicy = { free: number; baseSeconds: number; maxSeconds: number; windowSeconds: number };
export type ThrottlePolicies = {
  /** One account from one source address, or from one known device. */
  pair: BackoffPolicy;
  /** Every account from one source address (password spraying). */
  source: BackoffPolicy;
  /** One account from every unknown device (a distributed guess); known devices are exempt. */
  account: BackoffPolicy;
};

/** A person mistypes a few times; a script does not stop. Caps at 15 minutes. */
export const defaultThrottle: ThrottlePolicies = {
  pair: { free: 5, baseSeconds: 1, maxSeconds: 900, windowSeconds: 3600 },
  source: { free: 30, baseSeconds: 1, maxSeconds: 900, windowSeconds: 3600 },
  account: { free: 20, baseSeconds: 1, maxSeconds: 900, windowSeconds: 3600 },
};

export const deviceCookie = 'cv_device';

/**
 * Sign-in throttling in PostgreSQL, so every console replica enforces the same backoff; checked
 * before the password is, so a throttled attempt costs no argon2 work (ADR 0402).
 *
 * Nobody can lock an account out from elsewhere: a failure counts against the (account, source)
 * pair and the source, and against the account as a whole only for devices that never signed in
 * to it. A successful sign-in gives the browser a device cookie (an HMAC of the account and a
 * nonce under the session secret); attempts with it count only in that device's own bucket, so a
 * stranger hammering the admin's e-mail from anywhere never slows the admin's own browser.
 */
export function createLoginThrottle(pool: DatabasePool, options: { secret: string; policies?: ThrottlePolicies }) {
  const policies = options.policies ?? defaultThrottle;
  const mac = (email: string, nonce: string) =>
    createHmac('sha256', options.secret).update(`device\0${email.toLowerCase()}\0${nonce}`).digest('base64url');
  /** The device nonce when `cookie` was issued to this account by this installation, else null. */
  const knownDevice = (email: string, cookie: string | undefined): string | null => {
    const [nonce, tag] = (cookie ?? '').split('.');
    if (!nonce || !tag) return null;
    const expected = Buffer.from(mac(email, nonce));
    const given = Buffer.from(tag);
    return given.length === expected.length && timingSafeEqual(given, expected) ? nonce : null;
  };
  const buckets = (email: string, ip: string, device: string | undefined): { key: string; policy: BackoffPolicy }[] => {
    const account = email.toLowerCase();
    const nonce = knownDevice(account, device);
    if (nonce) return [{ key: `device:${account}:${nonce}`, policy: policies.pair }];
    return [
      { key: `pair:${account}:${ip}`, policy: policies.pair },
      { key: `ip:${ip}`, policy: policies.source },
      { key: `account:${account}`, policy: policies.account },
    ];
  };
  return {
    /** @throws CodeVectorError CON_THROTTLED (with retry-after seconds) while any bucket of this attempt backs off. */
    async assertAllowed(email: string, ip: string, device?: string): Promise<void> {
      const locked = await pool.maybeOne(sql.type(z.object({ seconds: z.number() }))`
        select ceil(extract(epoch from max(locked_until) - now()))::int as seconds from login_failures
        where key = any(${sql.array(
          buckets(email, ip, device).map((b) => b.key),
          'text',
        )}) and locked_until > now() having max(locked_until) is not null`);
      if (locked) throw new CodeVectorError('CON_THROTTLED', undefined, { details: { retryAfterSeconds: Math.max(1, locked.seconds) } });
    },
    async recordFailure(email: string, ip: string, device?: string): Promise<void> {
      // Buckets of a spray over random e-mails pile up; forget the quiet ones now and then.
      if (Math.random() < 0.02) {
        await pool.query(statement`
          delete from login_failures where last_failed_at < now() - interval '1 day' and (locked_until is null or locked_until < now())`);
      }
      for (const { key, policy: p } of buckets(email, ip, device)) {
        // A bucket quiet for a whole window starts over; otherwise the count grows and, past
        // `free`, each failure locks for an exponentially longer time.
        await pool.query(statement`
          with prior as (
            select case when last_failed_at >= now() - make_interval(secs => ${p.windowSeconds}) then failures else 0 end as n
            from login_failures where key = ${key}
          ), next as (select coalesce((select n from prior), 0) + 1 as n)
          insert into login_failures as f (key, failures, window_started_at, last_failed_at, locked_until)
          select ${key}, next.n, now(), now(),
            case when next.n >= ${p.free}
                 then now() + make_interval(secs => least(${p.maxSeconds}::float8, ${p.baseSeconds}::float8 * power(2, least(next.n - ${p.free}, 30))))
            end
          from next
          on conflict (key) do update set failures = excluded.failures, last_failed_at = excluded.last_failed_at,
            locked_until = excluded.locked_until,
            window_started_at = case when excluded.failures = 1 then now() else f.window_started_at end`);
      }
    },
    /**
     * A successful sign-in clears its own pair (or device) bucket, not the source's or the
     * account's (one good password must not unlock a spray), and returns the device cookie value.
     */
    async recordSuccess(email: string, ip: string, device?: string): Promise<string> {
      const account = email.toLowerCase();
      const nonce = knownDevice(account, device) ?? randomBytes(16).toString('base64url');
      await pool.query(statement`
        delete from login_failures where key = any(${sql.array([`pair:${account}:${ip}`, `device:${account}:${nonce}`], 'text')})`);
      return `${nonce}.${mac(account, nonce)}`;
    },
  };
}
export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
