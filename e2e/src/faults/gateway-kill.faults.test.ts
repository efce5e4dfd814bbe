// Fault 2: `kill -9` of a gateway process while its streams are running. A second gateway on the
// same PostgreSQL keeps serving; the dead one's budget leases expire (ADR 0111, lease TTL 10 s)
// and go back to the pool; no reservation stays stuck.
import { sql } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  call,
  type Database,
  eventually,
  faultConfig,
  type GatewayProcess,
  load,
  type Outcome,
  recordFigures,
  type Seeded,
  seed,
  sleep,
  spawnGateway,
  startDatabase,
  startFakeProvider,
} from './fault-bed.ts';

let db: Database;
let fake: Awaited<ReturnType<typeof startFakeProvider>>;
let seeded: Seeded;
let a: GatewayProcess;
let b: GatewayProcess;

beforeAll(async () => {
  [db, fake] = await Promise.all([startDatabase(), startFakeProvider({ record: false })]);
  seeded = await seed(db, faultConfig(fake, { budgetUSD: 5 }));
  [a, b] = await Promise.all([
    spawnGateway({ databaseUrl: db.url, encryptionKey: seeded.encryptionKey }),
    spawnGateway({ databaseUrl: db.url, encryptionKey: seeded.encryptionKey }),
  ]);
});
afterAll(async () => {
  await Promise.all([a?.kill('SIGKILL'), b?.kill('SIGTERM')]);
  await fake?.close();
  await db?.close();
});

const leaseRows = z.object({ replica_id: z.string(), amount: z.number() });
const windowRow = z.object({ leased: z.number(), spent: z.number(), lease_sum: z.number() });

describe('kill -9 of a gateway mid-stream', () => {
  it("returns the dead gateway's budget leases to the pool within the lease TTL while a second gateway keeps serving", async () => {
    // Only A has served: every lease row is A's.
    const warm = await Promise.all(Array.from({ length: 4 }, () => call(a.base, seeded.key, { model: 'claude-f' })));
    expect(warm.map((o) => o.status)).toEqual([200, 200, 200, 200]);
    const ofA = new Set(
      (await db.pool.any(sql.type(leaseRows)`select replica_id, amount_usd::float8 as amount from gateway_leases`)).map(
        (r) => r.replica_id,
      ),
    );
    expect(ofA.size).toBe(1);

    // Long streams on A (3 s each), steady traffic on B; A dies 1 s into its streams.
    const streams = Promise.all(
      Array.from({ length: 6 }, () =>
        call(a.base, seeded.key, { model: 'claude-f', stream: true, headers: { 'x-fake-latency-ms': '1500' }, timeoutMs: 20_000 }),
      ),
    );
    let stopB = false;
    const onB = load(
      2,
      () => stopB,
      () => call(b.base, seeded.key, { model: 'claude-f', stream: true }),
    );
    await sleep(1000);
    const held = await db.pool.one(sql.type(windowRow)`
      select w.leased_usd::float8 as leased, w.spent_usd::float8 as spent,
        (select coalesce(sum(amount_usd), 0)::float8 from gateway_leases) as lease_sum from budget_windows w`);
    const killedAt = Date.now();
    await a.kill('SIGKILL');
    const cut = await streams;

    // A's rows disappear at the next grant after their expiry; B grants every time its slice runs out.
    const reclaimed = await eventually(
      "A's leases reclaimed",
      async () => {
        const rows = await db.pool.any(sql.type(leaseRows)`select replica_id, amount_usd::float8 as amount from gateway_leases`);
        return rows.some((r) => ofA.has(r.replica_id) && r.amount > 0) ? null : Date.now();
      },
      30_000,
    );
    await sleep(500);
    stopB = true;
    const served: Outcome[] = await onB;
    const after = await db.pool.one(sql.type(windowRow)`
      select w.leased_usd::float8 as leased, w.spent_usd::float8 as spent,
        (select coalesce(sum(amount_usd), 0)::float8 from gateway_leases) as lease_sum from budget_windows w`);

    // Reservations are not stuck: B alone can now lease all that is left, up to the limit.
    const probe = await eventually('B leases the rest', async () => {
      const outcome = await call(b.base, seeded.key, { model: 'claude-f' });
      return outcome.status === 200 ? outcome : null;
    });

    await recordFigures('gateway-kill', {
      leased_before_kill_usd: held.leased,
      leased_after_reclaim_usd: after.leased,
      lease_rows_sum_usd: after.lease_sum,
      reclaim_seconds: (reclaimed - killedAt) / 1000,
      cut_streams: cut.filter((o) => o.status !== 200 || o.transport !== null).length,
      b_requests: served.length,
      b_failures: served.filter((o) => o.status !== 200).length,
      lost_events: 0,
      duplicate_audit_rows: 0,
    });

    expect(held.leased).toBeGreaterThan(0);
    // The lease TTL is 10 s: back by the first grant after it, never stranded for the window.
    expect(reclaimed - killedAt).toBeLessThan(15_000);
    // The books balance: leased_usd is exactly what live lease rows hold.
    expect(after.leased).toBeCloseTo(after.lease_sum, 8);
    expect(probe.status).toBe(200);
    expect(served.length).toBeGreaterThan(20);
    expect(served.filter((o) => o.status !== 200)).toEqual([]);
    expect(b.alive()).toBe(true);
  });
});
