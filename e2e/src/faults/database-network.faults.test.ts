// Faults 5 and 6: the network between a gateway and PostgreSQL cut, stalled and slowed, through
// toxiproxy (a real TCP fault proxy) in front of the database. PostgreSQL itself stays up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  call,
  type Database,
  faultConfig,
  type GatewayProcess,
  load,
  type Outcome,
  reconcileLedger,
  recordFigures,
  type Seeded,
  seed,
  sleep,
  spawnGateway,
  startDatabase,
  startFakeProvider,
} from './fault-bed.ts';
import { startToxiproxy, type ToxicProxy, type Toxiproxy } from './toxiproxy.ts';

let db: Database;
let fake: Awaited<ReturnType<typeof startFakeProvider>>;
let toxiproxy: Toxiproxy;
let link: ToxicProxy;
let seeded: Seeded;
let gateway: GatewayProcess;

beforeAll(async () => {
  [db, fake, toxiproxy] = await Promise.all([startDatabase(), startFakeProvider({ record: false }), startToxiproxy()]);
  link = await toxiproxy.proxy('postgres', `127.0.0.1:${db.port}`);
  seeded = await seed(db, faultConfig(fake));
  const viaProxy = new URL(db.url);
  viaProxy.port = String(link.port);
  gateway = await spawnGateway({ databaseUrl: viaProxy.toString(), encryptionKey: seeded.encryptionKey });
});
afterAll(async () => {
  await gateway?.kill('SIGKILL');
  await toxiproxy?.stop();
  await fake?.close();
  await db?.close();
});

type Timed = Outcome & { at: number; phase: string };

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! : null;
};

describe('the network between gateway and PostgreSQL cut, stalled and slowed', () => {
  it('fails closed while cut, waits out a stall, keeps serving while slow, recovers by itself, and loses nothing', async () => {
    let phase = 'before';
    const t0 = Date.now();
    let stop = false;
    const traffic = load(
      4,
      () => stop,
      async (n): Promise<Timed> => {
        const at = Date.now() - t0;
        const current = phase;
        const kind = n % 5;
        const outcome =
          kind === 4
            ? await call(gateway.base, seeded.key, { model: 'flood', timeoutMs: 60_000 })
            : await call(gateway.base, seeded.key, { model: kind % 2 ? 'gpt-f' : 'claude-f', stream: kind >= 2, timeoutMs: 60_000 });
        if (outcome.status !== 200 && outcome.status !== 429) await sleep(50);
        return { ...outcome, at, phase: current };
      },
    ) as Promise<Timed[]>;
    const marks: Record<string, number> = {};
    const enter = (name: string) => {
      phase = name;
      marks[name] = Date.now() - t0;
    };

    await sleep(3000);
    // Cut: open connections closed, new ones refused, for longer than a budget lease lives.
    enter('cut');
    await link.setEnabled(false);
    await sleep(11_000);
    await link.setEnabled(true);
    enter('after-cut');
    await sleep(4000);
    // Stall: the connections stay open but nothing gets through (a black hole), both ways.
    enter('stall');
    await link.addToxic('stall-down', 'timeout', { timeout: 0 }, 'downstream');
    await link.addToxic('stall-up', 'timeout', { timeout: 0 }, 'upstream');
    await sleep(8000);
    await link.removeToxic('stall-down');
    await link.removeToxic('stall-up');
    enter('after-stall');
    await sleep(4000);
    // Slow: 200 ms ± 50 each way on every packet.
    enter('slow');
    await link.addToxic('slow-down', 'latency', { latency: 200, jitter: 50 }, 'downstream');
    await link.addToxic('slow-up', 'latency', { latency: 200, jitter: 50 }, 'upstream');
    await sleep(10_000);
    await link.removeToxic('slow-down');
    await link.removeToxic('slow-up');
    enter('after');
    await sleep(4000);
    stop = true;
    const outcomes = await traffic;
    await sleep(3000);
    const ledger = await reconcileLedger(db.pool, outcomes);

    const byPhase: Record<
      string,
      {
        requests: number;
        ok: number;
        statuses: Record<string, number>;
        p50_ms: number | null;
        p99_ms: number | null;
        max_ms: number | null;
      }
    > = {};
    for (const o of outcomes) {
      byPhase[o.phase] ??= { requests: 0, ok: 0, statuses: {}, p50_ms: null, p99_ms: null, max_ms: null };
      const entry = byPhase[o.phase]!;
      entry.requests++;
      if (o.status === 200) entry.ok++;
      entry.statuses[o.status] = (entry.statuses[o.status] ?? 0) + 1;
    }
    for (const [name, entry] of Object.entries(byPhase)) {
      const ms = outcomes.filter((o) => o.phase === name).map((o) => o.ms);
      entry.p50_ms = percentile(ms, 0.5);
      entry.p99_ms = percentile(ms, 0.99);
      entry.max_ms = Math.max(...ms);
    }
    const recovery = (after: string) => {
      const first = outcomes.find((o) => o.at >= marks[after]! && o.status === 200);
      return first ? (first.at + first.ms - marks[after]!) / 1000 : null;
    };
    const cutPastLease = outcomes.filter((o) => o.at > marks['cut']! + 10_000 && o.at + o.ms < marks['after-cut']!);
    await recordFigures('database-network', {
      phases: byPhase,
      marks_ms: marks,
      ledger,
      lost_events: ledger.lostEvents + ledger.lostUsage,
      duplicate_audit_rows: ledger.duplicateEvents,
      duplicate_usage_rows: ledger.duplicateUsage,
      recovery_seconds_after_cut: recovery('after-cut'),
      recovery_seconds_after_stall: recovery('after-stall'),
    });

    expect(gateway.alive(), gateway.output.slice(-20).join('\n')).toBe(true);
    expect(ledger).toMatchObject({ lostUsage: 0, lostEvents: 0, duplicateUsage: 0, duplicateEvents: 0 });
    // Cut past the lease: nothing admitted, every answer a retryable 503 in the caller's shape.
    expect(cutPastLease.length).toBeGreaterThan(5);
    for (const o of cutPastLease) {
      expect(o.status, JSON.stringify(o)).toBe(503);
      expect(o.wellFormed && o.retryAfter !== null).toBe(true);
    }
    // Slow: the request path does not wait on the database per request (leases, batches), so
    // answers keep coming and most are not slowed by the link.
    expect(byPhase['slow']!.ok / byPhase['slow']!.requests).toBeGreaterThan(0.7);
    expect(outcomes.filter((o) => o.status === 402)).toHaveLength(0);
    expect(outcomes.filter((o) => o.status === 500 || o.status === 0)).toHaveLength(0);
    // Recovers by itself after each fault.
    expect(recovery('after-cut')).not.toBeNull();
    expect(recovery('after-cut')!).toBeLessThan(5);
    expect(recovery('after-stall')).not.toBeNull();
    expect(byPhase['after']!.ok).toBeGreaterThan(20);
  });
});
