// The soak (`npm run test:faults -- --soak`, not in CI): two gateway processes on one
// PostgreSQL under steady mixed load (Anthropic and OpenAI, streaming and not, a share of
// refusals) for CODEVECTOR_SOAK_MINUTES (default 10). What must hold: errors do not grow,
// memory stays flat, latency percentiles stay where they started, nothing is lost.
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

const minutes = Number(process.env['CODEVECTOR_SOAK_MINUTES'] ?? 10);
const windowMs = 30_000;
let db: Database;
let fake: Awaited<ReturnType<typeof startFakeProvider>>;
let seeded: Seeded;
let gateways: GatewayProcess[];

beforeAll(async () => {
  [db, fake] = await Promise.all([startDatabase(), startFakeProvider({ record: false, latencyMs: 20 })]);
  seeded = await seed(db, faultConfig(fake));
  gateways = await Promise.all([0, 1].map(() => spawnGateway({ databaseUrl: db.url, encryptionKey: seeded.encryptionKey })));
});
afterAll(async () => {
  for (const gateway of gateways ?? []) await gateway.kill('SIGTERM');
  await fake?.close();
  await db?.close();
});

type Window = {
  minute: number;
  requests: number;
  ok: number;
  refused: number;
  errors: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  rss_mb: number[];
};

const percentile = (sorted: number[], p: number) =>
  Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! * 10) / 10;

describe('soak: two gateways at steady mixed load', () => {
  it(`holds errors, memory and latency flat for ${minutes} minutes`, async () => {
    const t0 = Date.now();
    const end = t0 + minutes * 60_000;
    const outcomes: (Outcome & { at: number })[] = [];
    const windows: Window[] = [];
    const traffic = load(
      6,
      () => Date.now() > end,
      async (n) => {
        const gateway = gateways[n % 2]!;
        const kind = n % 10;
        const at = Date.now() - t0;
        // 10 % refusals (rate limit on `flood`, each an audit row), the rest split between
        // surfaces and between streaming and not; a short pause keeps the load steady, not saturating.
        const outcome =
          kind === 9
            ? await call(gateway.base, seeded.key, { model: 'flood' })
            : await call(gateway.base, seeded.key, { model: kind % 2 ? 'gpt-f' : 'claude-f', stream: kind % 3 === 0 });
        outcomes.push({ ...outcome, at });
        await sleep(5);
        return outcome;
      },
    );
    let from = 0;
    while (Date.now() < end) {
      await sleep(Math.min(windowMs, Math.max(0, end - Date.now())));
      const slice = outcomes.slice(from);
      from = outcomes.length;
      const ms = slice
        .filter((o) => o.status === 200)
        .map((o) => o.ms)
        .sort((a, b) => a - b);
      windows.push({
        minute: Math.round(((Date.now() - t0) / 60_000) * 10) / 10,
        requests: slice.length,
        ok: slice.filter((o) => o.status === 200).length,
        refused: slice.filter((o) => o.status === 429).length,
        errors: slice.filter((o) => o.status !== 200 && o.status !== 429).length,
        p50_ms: percentile(ms, 0.5),
        p95_ms: percentile(ms, 0.95),
        p99_ms: percentile(ms, 0.99),
        rss_mb: gateways.map((g) => Math.round(g.memory().rssMB)),
      });
      console.error(`[soak] ${JSON.stringify(windows.at(-1))}`);
    }
    await traffic;
    await sleep(2000);
    const ledger = await reconcileLedger(db.pool, outcomes);

    const third = Math.max(1, Math.floor(windows.length / 3));
    const early = windows.slice(1, 1 + third);
    const late = windows.slice(-third);
    // RSS saws up and down by ~100 MB between major GCs, so one sample against another says
    // little: growth is the median of the last third minus the median of the first third (after
    // the first window's warm-up), per gateway, the larger of the two.
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const rssGrowth = Math.max(...gateways.map((_, i) => median(late.map((w) => w.rss_mb[i]!)) - median(early.map((w) => w.rss_mb[i]!))));
    const mean = (list: Window[], f: (w: Window) => number) => list.reduce((sum, w) => sum + f(w), 0) / list.length;
    await recordFigures('soak', {
      soak_minutes: Math.round(((Date.now() - t0) / 60_000) * 10) / 10,
      soak_rss_growth_mb: rssGrowth,
      rss_mb_min_max: gateways.map((_, i) => [
        Math.min(...windows.map((w) => w.rss_mb[i]!)),
        Math.max(...windows.map((w) => w.rss_mb[i]!)),
      ]),
      requests: outcomes.length,
      errors: outcomes.filter((o) => o.status !== 200 && o.status !== 429).length,
      ledger,
      lost_events: ledger.lostEvents + ledger.lostUsage,
      duplicate_audit_rows: ledger.duplicateEvents,
      p99_ms_early: mean(early, (w) => w.p99_ms),
      p99_ms_late: mean(late, (w) => w.p99_ms),
      windows,
    });

    expect(gateways.every((g) => g.alive())).toBe(true);
    expect(ledger).toMatchObject({ lostEvents: 0, lostUsage: 0, duplicateEvents: 0, duplicateUsage: 0 });
    expect(mean(late, (w) => w.errors)).toBeLessThanOrEqual(mean(early, (w) => w.errors));
    expect(rssGrowth).toBeLessThan(40);
    expect(mean(late, (w) => w.p99_ms)).toBeLessThan(mean(early, (w) => w.p99_ms) * 2 + 5);
    expect(mean(late, (w) => w.requests)).toBeGreaterThan(mean(early, (w) => w.requests) * 0.7);
  });
});
