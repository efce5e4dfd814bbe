import type { SnapshotRateLimit } from '@codevector/core/config-snapshot';
import { createPool, type DatabasePool, sql } from '@codevector/core/create-pool';
import { createLogger } from '@codevector/core/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createRateLimiter, type RateLimiter, type RateLimitRefusal, type RateLimitTicket } from './rate-limiter.ts';

// Replicas are limiter instances on one real PostgreSQL. Time is a fake clock where the test is
// about windows; lease expiry is the database's own clock, so crash tests run in real time with
// a short grace.
let pool: DatabasePool;
const logger = createLogger({ name: 'test', level: 'silent' });
const open: RateLimiter[] = [];
const hour = 3_600_000;
const minute = 60_000;

beforeAll(async () => {
  pool = await createPool(process.env['DATABASE_URL']!, { maxPoolSize: 8 });
});

afterAll(async () => {
  for (const limiter of open) await limiter.close();
  await pool?.end();
});

type Options = Omit<Parameters<typeof createRateLimiter>[0], 'pool' | 'logger'> & { pool?: DatabasePool };

function replica(options: Options = {}): RateLimiter {
  const limiter = createRateLimiter({ logger, ...options, pool: options.pool ?? pool });
  open.push(limiter);
  return limiter;
}

function rateLimit(name: string, extra: Partial<SnapshotRateLimit> = {}): SnapshotRateLimit {
  return { uid: `uid-${name}`, namespace: 'default', name, subject: { kind: 'global' }, models: [], ...extra };
}

const isTicket = (outcome: unknown): outcome is RateLimitTicket => typeof outcome === 'object' && outcome !== null && 'states' in outcome;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const leaseRow = z.object({ replica_id: z.string(), amount: z.number() });
const leasesOf = (limit: SnapshotRateLimit) =>
  pool.any(sql.type(leaseRow)`select replica_id, amount from gateway_rate_leases where limit_uid = ${limit.uid} order by replica_id`);
const countedOf = (limit: SnapshotRateLimit) =>
  pool.oneFirst(sql.type(z.object({ n: z.number() }))`
    select coalesce(sum(requests), 0)::int as n from gateway_rate_buckets where limit_uid = ${limit.uid}`);

/** A fake clock starting just before a minute boundary. */
function fakeClock(start: number) {
  const clock = { now: start, read: () => clock.now };
  return clock;
}

describe('sliding minute', () => {
  it('refuses a burst across a minute boundary that fixed windows admitted twice', async () => {
    const limit = rateLimit('boundary', { requestsPerMinute: 10 });
    const items = [{ limit, subject: 'global' }];
    const boundary = Date.UTC(2031, 0, 1, 12, 0, 0);
    const time = fakeClock(boundary - 100);
    const limiter = replica({ clock: time.read, syncMs: 20 });

    for (let i = 0; i < 10; i++) expect(isTicket(await limiter.admit(items))).toBe(true);
    expect(isTicket(await limiter.admit(items))).toBe(false);

    // Fixed windows started a fresh minute here and admitted ten more.
    time.now = boundary + 100;
    const refused = (await limiter.admit(items)) as RateLimitRefusal;
    expect(refused).toMatchObject({ dimension: 'requests', max: 10, remaining: 0 });
    // The ten leave the window when their bucket (boundary − 1 s) is 61 buckets old.
    expect(refused.resetAt.getTime()).toBe(boundary + 60_000);
    expect(refused.retryAfterSeconds).toBe(60);

    time.now = boundary + 59_999;
    expect(isTicket(await limiter.admit(items))).toBe(false);
    time.now = boundary + 60_000;
    for (let i = 0; i < 10; i++) expect(isTicket(await limiter.admit(items))).toBe(true);
    expect(isTicket(await limiter.admit(items))).toBe(false);
  });

  it('never admits more than the limit in any rolling minute, across replicas', async () => {
    const rpm = 60;
    const limit = rateLimit('rolling', { requestsPerMinute: rpm });
    const items = [{ limit, subject: 'global' }];
    const time = fakeClock(Date.UTC(2031, 0, 2, 0, 0, 30));
    const start = time.now;
    // Leases of six slots, so idle leases and their release at a bucket's end are exercised.
    const replicas = [0, 1, 2].map(() => replica({ clock: time.read, syncMs: 20, sliceFraction: 0.1, leaseGraceMs: hour }));
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const admitted: number[] = [];
    let refused = 0;
    for (let n = 1; time.now < start + 4 * minute; n++) {
      // Bursty arrivals, five per second on average (the limit is one per second).
      time.now += random() < 0.1 ? Math.floor(random() * 3000) : Math.floor(random() * 100);
      const outcome = await replicas[Math.floor(random() * 3)]!.admit(items);
      if (isTicket(outcome)) admitted.push(time.now);
      else refused++;
      if (n % 10 === 0) await sleep(1); // let the periodic pushes run
    }
    let worst = 0;
    for (let i = 0, j = 0; i < admitted.length; i++) {
      while (admitted[j]! <= admitted[i]! - minute) j++;
      worst = Math.max(worst, i - j + 1);
    }
    expect(worst).toBeLessThanOrEqual(rpm);
    expect(refused).toBeGreaterThan(0);
    // Not by refusing everything: over four minutes the fleet used most of the allowance.
    expect(admitted.length).toBeGreaterThan(4 * rpm * 0.85);
  });

  it('counts a lease’s slots until they leave the window however late in the lease they were used', async () => {
    // Counted in the bucket where it was granted, a lease used late would leave the window
    // too early; it is counted in the bucket of its deadline until its holder says otherwise.
    const limit = rateLimit('late-use', { requestsPerMinute: 10 });
    const items = [{ limit, subject: 'global' }];
    const t0 = Date.UTC(2031, 0, 4);
    const time = fakeClock(t0);
    const options = { clock: time.read, syncMs: hour, sliceFraction: 1, leaseMs: minute, leaseGraceMs: hour };
    const holder = replica(options);
    expect(isTicket(await holder.admit(items))).toBe(true);
    time.now = t0 + 50_000;
    for (let i = 0; i < 9; i++) expect(isTicket(await holder.admit(items))).toBe(true);

    // The rolling minute ending now holds the nine used at t0 + 50 s: at most one more fits.
    time.now = t0 + 61_000;
    const other = replica(options);
    let admitted = 0;
    while (isTicket(await other.admit(items))) admitted++;
    expect(admitted).toBe(0); // the holder has not said when it used its slots
    await holder.close(); // now it has: one at t0 (gone from the window), nine at t0 + 50 s
    time.now = t0 + 61_500;
    while (isTicket(await other.admit(items))) admitted++;
    expect(admitted).toBe(1);
  });

  it('counts tokens over a sliding minute and says when they leave it', async () => {
    const limit = rateLimit('tokens', { tokensPerMinute: 1000 });
    const items = [{ limit, subject: 'global' }];
    const t0 = Date.UTC(2031, 0, 3, 0, 0, 40, 500);
    const time = fakeClock(t0);
    const limiter = replica({ clock: time.read, syncMs: 20 });
    const ticket = await limiter.admit(items);
    expect(isTicket(ticket)).toBe(true);
    limiter.addTokens(ticket as RateLimitTicket, 600);
    await sleep(100); // pushed in the bucket that starts at t0 − 500 ms

    // Across the minute boundary the 600 still count.
    time.now = t0 + 30_000;
    const second = await limiter.admit(items);
    expect(isTicket(second)).toBe(true);
    limiter.addTokens(second as RateLimitTicket, 500);
    time.now = t0 + 31_000;
    const refused = (await limiter.admit(items)) as RateLimitRefusal;
    expect(refused).toMatchObject({ dimension: 'tokens', max: 1000, remaining: 0 });
    // Once the 600 leave (61 buckets after theirs), the 500 alone are under the limit.
    expect(refused.resetAt.getTime()).toBe(t0 - 500 + 61_000);
    expect(refused.retryAfterSeconds).toBe(30);

    time.now = t0 + 60_499;
    expect(isTicket(await limiter.admit(items))).toBe(false);
    time.now = t0 + 60_500;
    expect(isTicket(await limiter.admit(items))).toBe(true);
  });
});

describe('token limits across replicas', () => {
  it('makes a replica that has not read the window yet read it before admitting (a token-only limit)', async () => {
    const limit = rateLimit('tokens-fresh-replica', { tokensPerMinute: 1000 });
    const items = [{ limit, subject: 'global' }];
    const first = replica({ syncMs: 20 });
    const ticket = await first.admit(items);
    expect(isTicket(ticket)).toBe(true);
    first.addTokens(ticket as RateLimitTicket, 5000);
    await sleep(150); // pushed
    // A replica that just started (or whose state for the key was dropped when idle) knows
    // nothing of those tokens until it asks: it must ask before admitting.
    const fresh = replica({ syncMs: 20 });
    expect(await fresh.admit(items)).toMatchObject({ dimension: 'tokens', max: 1000, remaining: 0 });
  });

  it('reads the window again before admitting once its total has gone stale (the key sat idle)', async () => {
    const limit = rateLimit('tokens-stale', { tokensPerMinute: 1000 });
    const items = [{ limit, subject: 'global' }];
    const time = fakeClock(Date.UTC(2031, 0, 4, 0, 0, 10));
    const a = replica({ clock: time.read, syncMs: 20 });
    const b = replica({ clock: time.read, syncMs: 20 });
    expect(isTicket(await b.admit(items))).toBe(true); // b reads the total: 0
    const ticket = await a.admit(items);
    a.addTokens(ticket as RateLimitTicket, 5000);
    await sleep(150);
    time.now += 15_000; // b's key idled past its periodic re-read; its total (0) is stale
    expect(await b.admit(items)).toMatchObject({ dimension: 'tokens', remaining: 0 });
  });
});

describe('request leases across replica crashes', () => {
  it('gives a dead replica’s unused slots to another replica after its lease plus the grace, keeping its used ones counted', async () => {
    // Tokens too, so the replica pushes (and reports its used slots) every syncMs.
    const limit = rateLimit('crash', { requestsPerMinute: 10, tokensPerMinute: 1_000_000 });
    const items = [{ limit, subject: 'global' }];
    const leaseMs = 500;
    const grace = 300;
    // The doomed replica has its own connections: ending them is its death (no further writes).
    const doomedPool = await createPool(process.env['DATABASE_URL']!, { maxPoolSize: 2 });
    const doomed = replica({ pool: doomedPool, syncMs: 20, sliceFraction: 0.5, leaseMs, leaseGraceMs: grace, replicaId: 'doomed' });
    for (let i = 0; i < 3; i++) {
      const ticket = await doomed.admit(items);
      expect(isTicket(ticket)).toBe(true);
      doomed.addTokens(ticket as RateLimitTicket, 10);
    }
    // Its push reports the three used slots; two of its five stay leased.
    for (let waited = 0; (await leasesOf(limit))[0]?.amount !== 2 && waited < 2000; waited += 10) await sleep(10);
    expect(await leasesOf(limit)).toEqual([{ replica_id: 'doomed', amount: 2 }]);
    await doomedPool.end();
    const diedAt = Date.now();

    const survivor = replica({ syncMs: 20, sliceFraction: 1, leaseMs, leaseGraceMs: grace, replicaId: 'survivor' });
    let admitted = 0;
    while (isTicket(await survivor.admit(items))) admitted++;
    expect(admitted).toBe(5);
    let recoveredAfterMs = -1;
    while (Date.now() - diedAt < 5000) {
      if (isTicket(await survivor.admit(items))) admitted++;
      if (admitted === 7) {
        recoveredAfterMs = Date.now() - diedAt;
        break;
      }
      await sleep(20);
    }
    // Back once the dead lease's deadline and grace passed, at the survivor's next retry.
    expect(admitted).toBe(7);
    expect(recoveredAfterMs).toBeGreaterThan(0);
    expect(recoveredAfterMs).toBeLessThan(leaseMs + grace + 700);
    // The three the dead replica used still count: the window is full, not over.
    expect(isTicket(await survivor.admit(items))).toBe(false);
    expect(await countedOf(limit)).toBe(10);
    expect((await leasesOf(limit)).map((row) => row.replica_id)).not.toContain('doomed');
  });

  it('lets through again at most what a dead replica admitted since its last report', async () => {
    const limit = rateLimit('crash-unreported', { requestsPerMinute: 10 });
    const items = [{ limit, subject: 'global' }];
    const leaseMs = 500;
    const grace = 200;
    // Requests only: the doomed replica reports its use when the lease ends, which it never sees.
    const doomedPool = await createPool(process.env['DATABASE_URL']!, { maxPoolSize: 2 });
    const doomed = replica({ pool: doomedPool, syncMs: 20, sliceFraction: 0.5, leaseMs, leaseGraceMs: grace, replicaId: 'doomed' });
    for (let i = 0; i < 3; i++) expect(isTicket(await doomed.admit(items))).toBe(true);
    await doomedPool.end();

    const survivor = replica({ syncMs: 20, sliceFraction: 1, leaseMs, leaseGraceMs: grace, replicaId: 'survivor' });
    let admitted = 0;
    const until = Date.now() + leaseMs + grace + 1000;
    while (Date.now() < until) {
      if (isTicket(await survivor.admit(items))) admitted++;
      else await sleep(20);
    }
    // 3 + 10: the limit plus the three unreported ones (the documented bound: at most a slice).
    expect(admitted).toBe(10);
  });

  it('counts again the used slots of a lease reclaimed while its replica was stalled, once it reports', async () => {
    const limit = rateLimit('stalled', { requestsPerMinute: 10 });
    const items = [{ limit, subject: 'global' }];
    // No periodic pushes: stalled until close() reports.
    const stalled = replica({ syncMs: hour, sliceFraction: 0.5, leaseMs: 200, leaseGraceMs: 100 });
    for (let i = 0; i < 3; i++) expect(isTicket(await stalled.admit(items))).toBe(true);
    await sleep(400);
    const other = replica({ syncMs: hour, sliceFraction: 1 });
    let admitted = 0;
    while (isTicket(await other.admit(items))) admitted++;
    expect(admitted).toBe(10); // the stalled lease (three used, unknown to the database) was reclaimed
    await stalled.close();
    await other.close();
    expect(await countedOf(limit)).toBe(13); // the three are counted again: the window stays full longer
  });

  it('keeps a live replica’s lease through a bucket and returns it when the key goes idle', async () => {
    const limit = rateLimit('idle', { requestsPerMinute: 100 });
    const items = [{ limit, subject: 'global' }];
    const holder = replica({ syncMs: 20, idleReturnMs: 100, sliceFraction: 0.5, replicaId: 'holder' });
    expect(isTicket(await holder.admit(items))).toBe(true);
    const [lease] = await leasesOf(limit);
    expect(lease).toMatchObject({ replica_id: 'holder' });
    expect(lease!.amount).toBeGreaterThanOrEqual(49);
    await sleep(1300);
    // Idle: the unused 49 went back; the one used stays counted.
    expect(await leasesOf(limit)).toEqual([]);
    expect(await countedOf(limit)).toBe(1);
    const other = replica({ syncMs: 20, sliceFraction: 1 });
    let admitted = 0;
    while (isTicket(await other.admit(items))) admitted++;
    expect(admitted).toBe(99);
  });
});
