import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPool, type DatabasePool, sql, statement } from '@codevector/core/create-pool';
import { setAuditRetention } from '@codevector/core/migrate';
import { createTestServiceLogin } from '@codevector/core/test-service-login';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startTestConsole } from '../testing/test-console.ts';
import { pruneAuditLog, verifyAnchoredChain, writeAuditCheckpoint } from './audit-anchor.ts';
import { sealAuditChain } from './audit-chain.ts';

// Retention on the console's own role: rows older than the migrator's setting go, a signed
// retention checkpoint stays, and verify passes on what remains; a superuser who prunes more
// without a signed checkpoint is caught.
const adminUrl = process.env['DATABASE_URL']!;
let t: Awaited<ReturnType<typeof startTestConsole>>;
let login: Awaited<ReturnType<typeof createTestServiceLogin>>;
let admin: DatabasePool;
let dir: string;
let keyPem: string;
const oldRows = 6;

const count = () => admin.oneFirst(sql.type(z.object({ n: z.number() }))`select count(*)::int as n from audit_log`);

async function sealEverything(): Promise<void> {
  for (let i = 0; i < 50; i++) {
    await sealAuditChain(t.deps.pool);
    const pending = await admin.oneFirst(sql.type(z.object({ n: z.number() }))`
      select count(*)::int as n from audit_log a where not exists (select 1 from audit_chain c where c.audit_id = a.id)`);
    if (pending === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('rows stayed unsealed');
}

beforeAll(async () => {
  admin = await createPool(adminUrl);
  // Rows written 40 days ago (the seeding is the superuser's; the console never backdates).
  for (let i = 0; i < oldRows; i++) {
    await admin.query(statement`
      insert into audit_log (at, action, target_type, target_name, actor, actor_source)
      values (now() - interval '40 days' + make_interval(secs => ${i}), 'group.created', 'group', ${`old${i}`}, 'alice@example.com', 'console')`);
  }
  login = await createTestServiceLogin('console');
  dir = await mkdtemp(path.join(tmpdir(), 'cv-retention-'));
  keyPem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  t = await startTestConsole({ env: { DATABASE_URL: login.url, AUDIT_CHECKPOINT_DIR: dir, AUDIT_CHECKPOINT_KEY: keyPem } });
  await sealEverything();
  await writeAuditCheckpoint(t.deps.pool, t.deps.anchor!);
});
afterAll(async () => {
  await t?.close();
  await admin?.end();
  await login?.drop();
  await rm(dir, { recursive: true, force: true });
});

describe('audit retention', () => {
  it('does nothing while retention is unset, and the console role cannot prune young rows itself', async () => {
    expect(await pruneAuditLog(t.deps.pool, t.deps.anchor!)).toBeNull();
    await setAuditRetention(adminUrl, 30);
    const head = await admin.oneFirst(
      sql.type(z.object({ h: z.instanceof(Buffer) }))`select hash as h from audit_chain where seq = ${oldRows + 1}`,
    );
    await expect(t.deps.pool.query(statement`select audit_prune(${oldRows + 1}, ${sql.binary(head)})`)).rejects.toThrow(
      /not all older than 30 days/,
    );
  });

  it('prunes rows older than the period, keeps a signed retention checkpoint, and verify still passes', async () => {
    const before = await count();
    // Batches of 4: two prunes, each behind its own signed retention checkpoint.
    const pruned = await pruneAuditLog(t.deps.pool, t.deps.anchor!, { batchRows: 4 });
    expect(pruned).toEqual({ pruned: oldRows, seq: oldRows });
    expect(await count()).toBe(before - oldRows);
    expect((await readdir(dir)).filter((f) => f.endsWith('-retention.json'))).toEqual([
      `${String(4).padStart(20, '0')}-retention.json`,
      `${String(oldRows).padStart(20, '0')}-retention.json`,
    ]);
    const report = await verifyAnchoredChain(t.deps.pool, t.deps.anchor!);
    expect(report).toMatchObject({ ok: true, baseSeq: oldRows, firstBreak: null });
    expect(report.checked).toBe(report.headSeq - oldRows);
    // Sealing and checkpointing carry on from the new base.
    await admin.query(
      statement`insert into audit_log (action, target_type, actor, actor_source) values ('group.created', 'group', 'bob', 'console')`,
    );
    await sealEverything();
    expect(await writeAuditCheckpoint(t.deps.pool, t.deps.anchor!)).not.toBeNull();
    const cli = fileURLToPath(new URL('../audit-verify-cli.ts', import.meta.url));
    const env = { ...process.env, DATABASE_URL: login.url, AUDIT_CHECKPOINT_DIR: dir, AUDIT_CHECKPOINT_KEY: keyPem };
    const run = spawnSync(process.execPath, [cli, 'audit', 'verify'], { env, encoding: 'utf8' });
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
    expect(run.stdout).toContain(`from seq ${oldRows + 1}`);
    expect(await pruneAuditLog(t.deps.pool, t.deps.anchor!)).toBeNull();
  });

  it('catches a superuser who prunes further and moves the base without a signed retention checkpoint', async () => {
    const forgedBase = oldRows + 2;
    await admin.transaction(async (tx) => {
      await tx.query(statement`delete from audit_log a using audit_chain c where c.audit_id = a.id and c.seq <= ${forgedBase}`);
      await tx.query(statement`update audit_chain_state set base_seq = ${forgedBase},
        base_hash = (select hash from audit_chain where seq = ${forgedBase})`);
      await tx.query(statement`delete from audit_chain where seq <= ${forgedBase}`);
    });
    const report = await verifyAnchoredChain(t.deps.pool, t.deps.anchor!);
    expect(report.firstBreak).toMatchObject({ seq: oldRows + 1, reason: 'base_unanchored' });
  });
});
