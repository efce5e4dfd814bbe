// Fault 8: PostgreSQL's disk fills up. The whole data folder lives on a small tmpfs; a filler
// file takes every free byte while traffic runs, and is removed again.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runAdminStatements } from '@codevector/testbed/postgres';
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

const isRoot = process.getuid?.() === 0;
let mountPoint = '';
let db: Database;
let fake: Awaited<ReturnType<typeof startFakeProvider>>;
let seeded: Seeded;
let gateway: GatewayProcess;

beforeAll(async () => {
  if (!isRoot) return;
  mountPoint = await mkdtemp(path.join(tmpdir(), 'codevector-faults-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=192m,mode=0755', 'tmpfs', mountPoint]);
  [db, fake] = await Promise.all([startDatabase({ dataDir: path.join(mountPoint, 'data') }), startFakeProvider({ record: false })]);
  // WAL stays within recycled segments, as on a sized production volume; what runs out is room
  // for table and index pages.
  await runAdminStatements(db.adminUrl, [
    "alter system set max_wal_size = '48MB'",
    "alter system set min_wal_size = '32MB'",
    'select pg_reload_conf()',
  ]);
  seeded = await seed(db, faultConfig(fake));
  gateway = await spawnGateway({ databaseUrl: db.url, encryptionKey: seeded.encryptionKey });
});
afterAll(async () => {
  await gateway?.kill('SIGTERM');
  await fake?.close();
  await db?.close();
  if (mountPoint) {
    execFileSync('umount', ['-l', mountPoint]);
    await rm(mountPoint, { recursive: true, force: true });
  }
});

type Timed = Outcome & { at: number; phase: string };

describe.skipIf(!isRoot)("PostgreSQL's disk full", () => {
  it('refuses with a retryable 503 instead of losing events while writes fail, and recovers when space returns', async () => {
    let phase = 'before';
    const t0 = Date.now();
    let stop = false;
    const traffic = load(
      4,
      () => stop,
      async (n): Promise<Timed> => {
        const at = Date.now() - t0;
        const current = phase;
        // Mostly refusals (each an audit row), so pages fill fast; the rest answered requests.
        const outcome =
          n % 3 === 0
            ? await call(gateway.base, seeded.key, { model: n % 2 ? 'gpt-f' : 'claude-f', stream: n % 4 === 0, timeoutMs: 30_000 })
            : await call(gateway.base, seeded.key, { model: 'flood', timeoutMs: 30_000, text: 'x'.repeat(400) });
        if (outcome.status >= 500) await sleep(20);
        return { ...outcome, at, phase: current };
      },
    ) as Promise<Timed[]>;
    await sleep(2000);

    phase = 'full';
    const fullAt = Date.now() - t0;
    const filler = path.join(mountPoint, 'filler');
    // dd stops at ENOSPC (exit 1): the volume is then full to the last block.
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M'], { stdio: 'ignore' });
    } catch {
      // expected: No space left on device
    }
    const freeKB = Number(execFileSync('df', ['--output=avail', '-k', mountPoint], { encoding: 'utf8' }).split('\n')[1]);
    await sleep(10_000);
    phase = 'freed';
    const freedAt = Date.now() - t0;
    await rm(filler);
    await sleep(8000);
    stop = true;
    const outcomes = await traffic;
    await sleep(3000);
    const ledger = await reconcileLedger(db.pool, outcomes);

    const full = outcomes.filter((o) => o.phase === 'full');
    const notRecorded = full.filter((o) => o.status === 503 && o.message?.includes('could not record'));
    const firstRecordedAfter = outcomes.find((o) => o.at >= freedAt && o.status === 429);
    const statuses = (list: Timed[]) => {
      const out: Record<string, number> = {};
      for (const o of list) out[o.status] = (out[o.status] ?? 0) + 1;
      return out;
    };
    await recordFigures('disk-full', {
      free_kb_after_fill: freeKB,
      statuses_before: statuses(outcomes.filter((o) => o.phase === 'before')),
      statuses_full: statuses(full),
      statuses_freed: statuses(outcomes.filter((o) => o.phase === 'freed')),
      ledger,
      lost_events: ledger.lostEvents + ledger.lostUsage,
      duplicate_audit_rows: ledger.duplicateEvents,
      duplicate_usage_rows: ledger.duplicateUsage,
      full_seconds: (freedAt - fullAt) / 1000,
      recovery_seconds: firstRecordedAfter ? (firstRecordedAfter.at + firstRecordedAfter.ms - freedAt) / 1000 : null,
    });

    expect(freeKB).toBeLessThan(64);
    expect(gateway.alive()).toBe(true);
    // Writes failed, and the gateway said so instead of answering as if the event were stored.
    expect(notRecorded.length).toBeGreaterThan(0);
    for (const o of notRecorded) expect(o.wellFormed && o.retryAfter !== null).toBe(true);
    expect(ledger).toMatchObject({ lostEvents: 0, lostUsage: 0, duplicateEvents: 0, duplicateUsage: 0 });
    expect(outcomes.filter((o) => o.status === 500 || o.status === 0)).toHaveLength(0);
    // Recovers by itself once space is back.
    expect(firstRecordedAfter).toBeDefined();
    expect(firstRecordedAfter!.at + firstRecordedAfter!.ms - freedAt).toBeLessThan(5000);
  });
});
