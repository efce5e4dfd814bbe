import type { SnapshotBudget } from '@codevector/core/config-snapshot';
import { createPool, type DatabasePool, sql } from '@codevector/core/create-pool';
import { createLogger } from '@codevector/core/logger';
import { parseUsd as usd } from '@codevector/core/money';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type BudgetLedger, type BudgetTicket, createBudgetLedger } from './budget-ledger.ts';

// Replicas are ledger instances on one real PostgreSQL. A "crashed" replica is one that leased
// and is then dropped: its timer never fires (syncMs of an hour), so it neither renews nor
// returns anything, exactly like a process that died.
let pool: DatabasePool;
const logger = createLogger({ name: 'test', level: 'silent' });
const open: BudgetLedger[] = [];
const hour = 3_600_000;
const ttl = 400;

beforeAll(async () => {
  pool = await createPool(process.env['DATABASE_URL']!, { maxPoolSize: 8 });
});

afterAll(async () => {
  for (const ledger of open) await ledger.close();
  await pool?.end();
});

function replica(options: { crashes?: boolean; sliceFraction?: number } = {}): BudgetLedger {
  const ledger = createBudgetLedger({
    pool,
    logger,
    leaseTtlMs: ttl,
    syncMs: options.crashes ? hour : 20,
    idleReturnMs: options.crashes ? hour : 1000,
    sliceFraction: options.sliceFraction ?? 0.01,
  });
  if (!options.crashes) open.push(ledger);
  return ledger;
}

function budget(name: string, extra: Partial<SnapshotBudget> = {}): SnapshotBudget {
  return {
    uid: `uid-${name}`,
    namespace: 'default',
    name,
    subject: { kind: 'global' },
    amount: usd('1'),
    period: 'total',
    timeZone: 'UTC',
    models: [],
    mode: 'enforce',
    strict: false,
    ...extra,
  };
}

// numeric arrives as exact text; the assertions compare it as numbers.
const windowRow = z.object({ spent_usd: z.coerce.number(), leased_usd: z.coerce.number() });
const leaseRow = z.object({ replica_id: z.string(), amount_usd: z.coerce.number() });

const windowOf = (b: SnapshotBudget) =>
  pool.one(sql.type(windowRow)`select spent_usd, leased_usd from budget_windows where budget_uid = ${b.uid}`);
const leasesOf = (b: SnapshotBudget) =>
  pool.any(sql.type(leaseRow)`select replica_id, amount_usd from gateway_leases where budget_uid = ${b.uid}`);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isTicket = (outcome: unknown): outcome is BudgetTicket => typeof outcome === 'object' && outcome !== null && 'holds' in outcome;

describe('budget leases across replica crashes', () => {
  it('returns a crashed replica’s lease to the pool after its TTL, so another replica can spend the whole remainder', async () => {
    const b = budget('crash-default');
    const items = [{ budget: b, subject: 'global' }];
    const crashed = replica({ crashes: true, sliceFraction: 0.5 });
    expect(isTicket(await crashed.reserve(items, { expected: usd('0.1'), worst: usd('0.1') }))).toBe(true);
    expect(await leasesOf(b)).toEqual([expect.objectContaining({ amount_usd: 0.5 })]);
    // The crashed replica is gone: it never settles, renews or returns.

    const survivor = replica();
    // While the lease is live, half of the budget is unavailable.
    expect(isTicket(await survivor.reserve(items, { expected: usd('0.6'), worst: usd('0.6') }))).toBe(false);
    await sleep(ttl + 150);
    const ticket = await survivor.reserve(items, { expected: usd('1'), worst: usd('1') });
    expect(isTicket(ticket)).toBe(true);
    survivor.settle(ticket as BudgetTicket, usd('1'));
    expect(isTicket(await survivor.reserve(items, { expected: usd('0.001'), worst: usd('0.001') }))).toBe(false);
    await sleep(100);
    expect(await windowOf(b)).toEqual({ spent_usd: 1, leased_usd: 0 });
    expect(await leasesOf(b)).toEqual([]);
  });

  it('never overspends a strict budget across a crash, and a replica whose lease lapsed cannot spend it without leasing again', async () => {
    const b = budget('crash-strict', { strict: true });
    const items = [{ budget: b, subject: 'global' }];
    // A replica that stops reaching the database (crashed or partitioned) with a request in flight.
    const lost = replica({ crashes: true, sliceFraction: 0.5 });
    const inFlight = await lost.reserve(items, { expected: usd('0.01'), worst: usd('0.3') });
    expect(isTicket(inFlight)).toBe(true);
    await sleep(ttl + 150);

    // Two live replicas spend everything that is left, at worst-case cost each time.
    const a = replica();
    const c = replica();
    let spent = 0;
    for (let refusedBoth = false; !refusedBoth; ) {
      refusedBoth = true;
      for (const live of [a, c]) {
        const ticket = await live.reserve(items, { expected: usd('0.01'), worst: usd('0.1') });
        if (!isTicket(ticket)) continue;
        refusedBoth = false;
        live.settle(ticket, usd('0.1'));
        spent += 0.1;
      }
    }
    expect(spent).toBeCloseTo(1, 9);

    // The lost replica still has 0.2 free in memory, but its lease is past its deadline and was
    // reclaimed: it must go back to the database, which has nothing left to grant.
    expect(isTicket(await lost.reserve(items, { expected: usd('0.01'), worst: usd('0.1') }))).toBe(false);
    // Its in-flight request failed before any usage (cost 0): nothing is overspent.
    lost.settle(inFlight as BudgetTicket, usd('0'));
    await lost.close();
    await sleep(100);
    const row = await windowOf(b);
    expect(row.spent_usd).toBeLessThanOrEqual(1);
    expect(row.spent_usd).toBeCloseTo(1, 9);
    expect(row.spent_usd + row.leased_usd).toBeLessThanOrEqual(1);
  });

  it('keeps a live replica’s lease through renewals, and lets a lapsed but unclaimed lease be renewed by its owner', async () => {
    const b = budget('renewed');
    const items = [{ budget: b, subject: 'global' }];
    const holder = createBudgetLedger({ pool, logger, leaseTtlMs: ttl, syncMs: 20, idleReturnMs: hour, sliceFraction: 0.6 });
    open.push(holder);
    expect(isTicket(await holder.reserve(items, { expected: usd('0.1'), worst: usd('0.1') }))).toBe(true);
    // Several TTLs later the live holder still has its lease; nobody else can take it.
    await sleep(ttl * 3);
    const other = replica();
    expect(isTicket(await other.reserve(items, { expected: usd('0.5'), worst: usd('0.5') }))).toBe(false);
    expect(await leasesOf(b)).toEqual(
      expect.arrayContaining([expect.objectContaining({ amount_usd: 0.6 }), expect.objectContaining({ amount_usd: 0.4 })]),
    );

    // A replica that missed its renewals but whose lease nobody reclaimed gets it back on its
    // next lease (one round trip) instead of losing it.
    const b2 = budget('lapsed');
    const items2 = [{ budget: b2, subject: 'global' }];
    const sleeper = replica({ crashes: true, sliceFraction: 0.5 });
    expect(isTicket(await sleeper.reserve(items2, { expected: usd('0.1'), worst: usd('0.1') }))).toBe(true);
    await sleep(ttl + 150);
    expect(isTicket(await sleeper.reserve(items2, { expected: usd('0.1'), worst: usd('0.1') }))).toBe(true);
    const leases = await leasesOf(b2);
    expect(leases).toHaveLength(1);
    // Its own lapsed lease plus a new slice: nothing was lost or counted twice.
    expect(leases[0]!.amount_usd).toBe(1);
    expect((await windowOf(b2)).leased_usd).toBe(1);
    await sleeper.close();
    expect(await windowOf(b2)).toEqual({ spent_usd: 0, leased_usd: 0.2 });
  });
});

describe('budget leases under concurrency', () => {
  it('lets concurrent replicas spend a strict budget to the cent around a crashed one, without deadlocks', async () => {
    const b = budget('concurrent-strict', { strict: true, amount: usd('2') });
    const items = [{ budget: b, subject: 'global' }];
    const crashed = replica({ crashes: true, sliceFraction: 0.2 });
    expect(isTicket(await crashed.reserve(items, { expected: usd('0.01'), worst: usd('0.05') }))).toBe(true);
    const live = [replica({ sliceFraction: 0.05 }), replica({ sliceFraction: 0.05 }), replica({ sliceFraction: 0.05 })];
    let admitted = 0;
    const drain = () =>
      Promise.all(
        live.flatMap((ledger) =>
          Array.from({ length: 8 }, async () => {
            for (;;) {
              const ticket = await ledger.reserve(items, { expected: usd('0.001'), worst: usd('0.01') });
              if (!isTicket(ticket)) return;
              admitted++;
              await sleep(1);
              ledger.settle(ticket, usd('0.01'));
            }
          }),
        ),
      );
    await drain();
    // The crashed replica's 0.40 is still leased; after its TTL the next grants take it back.
    expect(admitted).toBeLessThanOrEqual(160);
    await sleep(ttl + 150);
    await drain();
    expect(admitted).toBe(200);
    await sleep(100);
    const row = await windowOf(b);
    expect(row.spent_usd).toBe(2);
    expect(row.spent_usd + row.leased_usd).toBeLessThanOrEqual(2);
  });
});

describe('observe-mode budgets', () => {
  it('never refuse and never lease, but record every dollar spent, past the amount too', async () => {
    const watched = budget('observed', { mode: 'observe', amount: usd('0.05'), strict: true });
    const enforced = budget('enforced-beside', { amount: usd('10') });
    const items = [
      { budget: watched, subject: 'global' },
      { budget: enforced, subject: 'global' },
    ];
    const ledger = replica();
    for (let i = 0; i < 10; i++) {
      const ticket = await ledger.reserve(items, { expected: usd('0.02'), worst: usd('0.04') });
      expect(isTicket(ticket)).toBe(true);
      ledger.settle(ticket as BudgetTicket, usd('0.02'));
    }
    await sleep(150);
    const row = await windowOf(watched);
    expect(row.spent_usd).toBeCloseTo(0.2, 9);
    expect(row.leased_usd).toBe(0);
    expect(await leasesOf(watched)).toEqual([]);
    // The enforced budget beside it is charged the same spend through its lease.
    expect((await windowOf(enforced)).spent_usd).toBeCloseTo(0.2, 9);
    expect(ledger.spendOf(watched.uid, 'global')).toBe(usd('0.2'));
  });
});

describe('calendar windows in a time zone', () => {
  it('charges a Berlin monthly budget to the window that began at local midnight on the 1st', async () => {
    const b = budget('berlin-monthly', { period: 'month', timeZone: 'Europe/Berlin' });
    const ledger = replica();
    const ticket = await ledger.reserve([{ budget: b, subject: 'global' }], { expected: usd('0.01'), worst: usd('0.01') });
    expect(isTicket(ticket)).toBe(true);
    ledger.settle(ticket as BudgetTicket, usd('0.01'));
    await sleep(100);
    const row = await pool.one(sql.type(z.object({ start: z.date(), end: z.date() }))`
      select window_start as start, window_end as "end" from budget_windows where budget_uid = ${b.uid}`);
    const local = (d: Date) =>
      new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', dateStyle: 'short', timeStyle: 'short' }).format(d);
    expect(local(row.start)).toMatch(/^01\/\d\d\/\d{4}, 00:00$/);
    expect(local(row.end)).toMatch(/^01\/\d\d\/\d{4}, 00:00$/);
  });
});
