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

type Phase = { name: string; ms: number; begin?: () => Promise<void>; end?: () => Promise<void> };
type PhaseStats = {
  requests: number;
  ok: number;
  statuses: Record<string, number>;
  p50_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
};

/** Mixed traffic (a refusal with an audit event every fifth request) through a schedule of link faults. */
async function runPhases(phases: Phase[]) {
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
  for (const step of phases) {
    await step.begin?.();
    phase = step.name;
    marks[step.name] = Date.now() - t0;
    await sleep(step.ms);
    await step.end?.();
  }
  stop = true;
  const outcomes = await traffic;
  await sleep(3000);
  const ledger = await reconcileLedger(db.pool, outcomes);
  const byPhase: Record<string, PhaseStats> = {};
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
    entry.max_ms = Math.round(Math.max(...ms));
  }
  /** Seconds from the start of `name` to the end of the first request served after it. */
  const recovery = (name: string) => {
    const first = outcomes.find((o) => o.at >= marks[name]! && o.status === 200);
    return first ? (first.at + first.ms - marks[name]!) / 1000 : null;
  };
  return { outcomes, ledger, byPhase, marks, recovery };
}

const figures: Record<string, unknown> = {};
afterAll(async () => {
  const sum = (key: string) => Object.values(figures).reduce<number>((total, f) => total + ((f as Record<string, number>)[key] ?? 0), 0);
  await recordFigures('database-network', {
    ...figures,
    lost_events: sum('lost_events'),
    duplicate_audit_rows: sum('duplicate_audit_rows'),
    duplicate_usage_rows: sum('duplicate_usage_rows'),
  });
});

describe('the network between gateway and PostgreSQL cut, stalled and slowed', () => {
  it('cut, then stalled: fails closed once its leases lapse, recovers by itself, and loses nothing', async () => {
    const run = await runPhases([
      { name: 'before', ms: 3000 },
      // Cut: open connections closed, new ones refused, for longer than a budget lease lives.
      { name: 'cut', ms: 11_000, begin: () => link.setEnabled(false), end: () => link.setEnabled(true) },
      { name: 'after-cut', ms: 4000 },
      // Stall: the connections stay open but nothing gets through (a black hole), both ways.
      {
        name: 'stall',
        ms: 8000,
        begin: async () => {
          await link.addToxic('stall-down', 'timeout', { timeout: 0 }, 'downstream');
          await link.addToxic('stall-up', 'timeout', { timeout: 0 }, 'upstream');
        },
        end: async () => {
          await link.removeToxic('stall-down');
          await link.removeToxic('stall-up');
        },
      },
      { name: 'after-stall', ms: 4000 },
    ]);
    const { outcomes, ledger, byPhase, marks } = run;
    const cutPastLease = outcomes.filter((o) => o.at > marks['cut']! + 10_000 && o.at + o.ms < marks['after-cut']!);
    figures['cut'] = {
      phases: byPhase,
      ledger,
      lost_events: ledger.lostEvents + ledger.lostUsage,
      duplicate_audit_rows: ledger.duplicateEvents,
      duplicate_usage_rows: ledger.duplicateUsage,
      recovery_seconds_after_cut: run.recovery('after-cut'),
      recovery_seconds_after_stall: run.recovery('after-stall'),
      longest_wait_in_stall_ms: byPhase['stall']?.max_ms ?? null,
    };

    expect(gateway.alive(), gateway.output.slice(-20).join('\n')).toBe(true);
    expect(ledger).toMatchObject({ lostUsage: 0, lostEvents: 0, duplicateUsage: 0, duplicateEvents: 0 });
    // Cut past the lease: nothing admitted, every answer a retryable 503 in the caller's shape.
    expect(cutPastLease.length).toBeGreaterThan(5);
    for (const o of cutPastLease) {
      expect(o.status, JSON.stringify(o)).toBe(503);
      expect(o.wellFormed && o.retryAfter !== null).toBe(true);
    }
    expect(outcomes.filter((o) => o.status === 402 || o.status === 500 || o.status === 0)).toHaveLength(0);
    // Recovers by itself after each fault.
    expect(run.recovery('after-cut')).not.toBeNull();
    expect(run.recovery('after-cut')!).toBeLessThan(5);
    expect(run.recovery('after-stall')).not.toBeNull();
    expect(run.recovery('after-stall')!).toBeLessThan(5);
  });

  it('slowed by 200 ms each way: keeps serving (no round trip per request), loses nothing', async () => {
    const run = await runPhases([
      { name: 'before', ms: 3000 },
      {
        name: 'slow',
        ms: 10_000,
        begin: async () => {
          await link.addToxic('slow-down', 'latency', { latency: 200, jitter: 50 }, 'downstream');
          await link.addToxic('slow-up', 'latency', { latency: 200, jitter: 50 }, 'upstream');
        },
        end: async () => {
          await link.removeToxic('slow-down');
          await link.removeToxic('slow-up');
        },
      },
      { name: 'after', ms: 4000 },
    ]);
    const { outcomes, ledger, byPhase } = run;
    const slow = outcomes.filter((o) => o.phase === 'slow');
    const slowServed = slow.filter((o) => o.status === 200).map((o) => o.ms);
    figures['slow'] = {
      phases: byPhase,
      ledger,
      lost_events: ledger.lostEvents + ledger.lostUsage,
      duplicate_audit_rows: ledger.duplicateEvents,
      duplicate_usage_rows: ledger.duplicateUsage,
      served_p50_ms_while_slow: percentile(slowServed, 0.5),
    };
    expect(gateway.alive()).toBe(true);
    expect(ledger).toMatchObject({ lostUsage: 0, lostEvents: 0, duplicateUsage: 0, duplicateEvents: 0 });
    expect(byPhase['slow']!.ok / byPhase['slow']!.requests).toBeGreaterThan(0.7);
    // A served request does not wait for the link (the 429s do: their event is durable first).
    expect(percentile(slowServed, 0.5)!).toBeLessThan(50);
    expect(outcomes.filter((o) => o.status >= 500 || o.status === 0 || o.status === 402)).toHaveLength(0);
    expect(byPhase['after']!.ok).toBeGreaterThan(20);
  });
});
