import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sql, statement } from '@codevector/core/create-pool';
import { writeAuditEntry } from '@codevector/core/write-audit-entry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startTestConsole, type TestClient } from '../testing/test-console.ts';
import { sealAuditBatch, sealAuditChain, sealerLockKey, verifyAuditChain } from './audit-chain.ts';

let t: Awaited<ReturnType<typeof startTestConsole>>;
let admin: TestClient;
beforeAll(async () => {
  t = await startTestConsole();
  admin = await t.signIn();
});
afterAll(() => t.close());

const write = (name: string) =>
  t.deps.pool.transaction((tx) =>
    writeAuditEntry(tx, {
      action: 'group.created',
      targetType: 'group',
      targetName: name,
      actor: 'a@example.com',
      actorSource: 'console',
      detail: { after: { name } },
    }),
  );

/** Other test files share the PostgreSQL server; their open transactions can hold the horizon for a moment. */
async function sealEverything(): Promise<void> {
  for (let i = 0; i < 50; i++) {
    await sealAuditChain(t.deps.pool);
    const pending = await t.deps.pool.oneFirst(sql.type(z.object({ n: z.number() }))`
      select count(*)::int as n from audit_log a where not exists (select 1 from audit_chain c where c.audit_id = a.id)`);
    if (pending === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('rows stayed unsealed');
}

const sealedIds = () => t.deps.pool.anyFirst(sql.type(z.object({ audit_id: z.number() }))`select audit_id from audit_chain order by seq`);

/** Tampering needs the append-only trigger out of the way, as a database owner could do. */
async function tamper(change: ReturnType<typeof sql.fragment>): Promise<void> {
  await t.deps.pool.transaction(async (tx) => {
    await tx.query(statement`alter table audit_log disable trigger audit_log_forbid_update`);
    await tx.query(statement`${change}`);
    await tx.query(statement`alter table audit_log enable trigger audit_log_forbid_update`);
  });
}

describe('audit hash chain', () => {
  it('seals committed rows and verifies intact', async () => {
    for (let i = 0; i < 5; i++) await write(`g${i}`);
    await sealEverything();
    const report = await verifyAuditChain(t.deps.pool);
    expect(report).toMatchObject({ ok: true, firstBreak: null, pending: 0 });
    expect(report.checked).toBeGreaterThanOrEqual(6); // 5 + the bootstrap admin's row
    const page = await admin.request('GET', '/api/audit?limit=1');
    expect(page.json.entries[0].sealed).toBe(report.headSeq);
  });

  it('never seals past a transaction still in flight, then chains its row after', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let inflightId = 0;
    const wrote = new Promise<void>((resolveWrote) => {
      void t.deps.pool.transaction(async (tx) => {
        inflightId = await writeAuditEntry(tx, {
          action: 'group.created',
          targetType: 'group',
          targetName: 'slow',
          actor: 'slow@example.com',
          actorSource: 'console',
        });
        resolveWrote();
        await held;
      });
    });
    await wrote;
    // Written after the slow row took its (lower) id, committed first.
    const laterId = await write('fast');
    expect(laterId).toBeGreaterThan(inflightId);
    await sealAuditChain(t.deps.pool);
    expect(await sealedIds()).not.toContain(laterId);
    const page = await admin.request('GET', '/api/audit?limit=1');
    expect(page.json.entries[0]).toMatchObject({ id: laterId, sealed: null });
    release();
    await new Promise((r) => setTimeout(r, 50));
    await sealEverything();
    const ids = await sealedIds();
    expect(ids.indexOf(inflightId)).toBeGreaterThan(-1);
    expect(ids.indexOf(laterId)).toBeGreaterThan(ids.indexOf(inflightId));
    expect((await verifyAuditChain(t.deps.pool)).ok).toBe(true);
  });

  it('lets only one sealer work at a time', async () => {
    for (let i = 0; i < 20; i++) await write(`c${i}`);
    // Another sealer holds the lock (deterministic, unlike racing three batches on a loaded machine).
    await t.deps.pool.transaction(async (tx) => {
      await tx.query(statement`select pg_advisory_xact_lock(${sealerLockKey})`);
      expect(await sealAuditBatch(t.deps.pool, 5)).toBeNull();
    });
    const results = await Promise.all([sealAuditBatch(t.deps.pool, 5), sealAuditBatch(t.deps.pool, 5), sealAuditBatch(t.deps.pool, 5)]);
    expect(results.some((r) => r !== null)).toBe(true);
    await sealEverything();
    expect((await verifyAuditChain(t.deps.pool)).ok).toBe(true);
  });

  it('refuses in-place updates of audit rows', async () => {
    await expect(
      t.deps.pool.query(statement`update audit_log set actor = 'mallory' where id = (select min(id) from audit_log)`),
    ).rejects.toThrow(/append-only/);
  });

  it('detects a row slipped in behind the sealed head', async () => {
    await t.deps.pool.query(statement`
      insert into audit_log (id, txid, action, target_type, actor, actor_source) overriding system value
      values (0, '2'::xid8, 'user.created', 'user', 'mallory', 'console')`);
    expect((await verifyAuditChain(t.deps.pool)).firstBreak).toMatchObject({ reason: 'unchained_row', auditId: 0 });
    await tamper(sql.fragment`delete from audit_log where id = 0`);
    expect((await verifyAuditChain(t.deps.pool)).ok).toBe(true);
  });

  it('reports the first altered row from the API and the CLI', async () => {
    const ids = await sealedIds();
    const victim = ids[3]!;
    await tamper(sql.fragment`update audit_log set detail = '{"after":{"name":"forged"}}' where id = ${victim}`);
    await tamper(sql.fragment`update audit_log set actor = 'forged' where id = ${ids[7]!}`);
    const report = (await admin.request('GET', '/api/audit/verify')).json;
    expect(report).toMatchObject({ ok: false, firstBreak: { seq: 4, auditId: victim, reason: 'row_altered' } });

    const cli = fileURLToPath(new URL('../audit-verify-cli.ts', import.meta.url));
    const run = spawnSync(process.execPath, [cli, 'audit', 'verify'], { env: { ...process.env }, encoding: 'utf8' });
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 1, stderr: '' });
    expect(run.stdout).toContain('BROKEN at seq 4');
    const json = spawnSync(process.execPath, [cli, 'audit', 'verify', '--json'], { env: { ...process.env }, encoding: 'utf8' });
    expect(JSON.parse(json.stdout).firstBreak.auditId).toBe(victim);
  });

  it('reports a deleted row', async () => {
    const ids = await sealedIds();
    await tamper(sql.fragment`delete from audit_log where id = ${ids[1]!}`);
    expect((await verifyAuditChain(t.deps.pool)).firstBreak).toMatchObject({ seq: 2, reason: 'row_missing' });
  });
});
