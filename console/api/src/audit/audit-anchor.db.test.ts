import { spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPool, type DatabasePool, type DatabaseTransactionConnection, sql, statement } from '@codevector/core/create-pool';
import type { Logger } from '@codevector/core/logger';
import { createTestServiceLogin } from '@codevector/core/test-service-login';
import { writeAuditEntry } from '@codevector/core/write-audit-entry';
import { waitFor } from '@codevector/testbed/wait-for';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startTestConsole, type TestClient } from '../testing/test-console.ts';
import { AuditTamperedError, startAuditAnchorer, writeAuditCheckpoint } from './audit-anchor.ts';
import { type ChainRow, chainColumns, chainHash, chainRow, sealAuditChain, verifyAuditChain } from './audit-chain.ts';
import { createCheckpointSigner, createDirectoryCheckpointSink, loadCheckpoints } from './audit-checkpoint.ts';
import type { ChainReport } from './audit-contract.ts';

// The console runs as its own database role (codevector_console) and anchors the chain in a
// folder; the attacker is the real PostgreSQL superuser of the test server. Each attack runs in a
// superuser transaction that verify reads from and that is rolled back afterwards, so every test
// starts from the same untouched log; the last one commits its attack and runs the CLI.
let t: Awaited<ReturnType<typeof startTestConsole>>;
let login: Awaited<ReturnType<typeof createTestServiceLogin>>;
let admin: DatabasePool;
let client: TestClient;
let dir: string;
let keyPem: string;
/** Chain positions of the three checkpoints written in beforeAll. */
const at = { first: 0, second: 0, third: 0 };

async function sealEverything(pool: DatabasePool): Promise<void> {
  for (let i = 0; i < 50; i++) {
    await sealAuditChain(pool);
    const pending = await admin.oneFirst(sql.type(z.object({ n: z.number() }))`
      select count(*)::int as n from audit_log a where not exists (select 1 from audit_chain c where c.audit_id = a.id)`);
    if (pending === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('rows stayed unsealed');
}

async function writeRows(count: number, prefix: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    await t.deps.pool.transaction((tx) =>
      writeAuditEntry(tx, {
        action: 'group.created',
        targetType: 'group',
        targetName: `${prefix}${i}`,
        actor: 'alice@example.com',
        actorSource: 'console',
        detail: { after: { name: `${prefix}${i}` } },
      }),
    );
  }
  await sealEverything(t.deps.pool);
}

async function checkpoint(): Promise<number> {
  const written = await writeAuditCheckpoint(t.deps.pool, t.deps.anchor!);
  if (!written) throw new Error('no checkpoint written');
  return written.seq;
}

beforeAll(async () => {
  login = await createTestServiceLogin('console');
  admin = await createPool(process.env['DATABASE_URL']!);
  dir = await mkdtemp(path.join(tmpdir(), 'cv-checkpoints-'));
  keyPem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  t = await startTestConsole({ env: { DATABASE_URL: login.url, AUDIT_CHECKPOINT_DIR: dir, AUDIT_CHECKPOINT_KEY: keyPem } });
  client = await t.signIn();
  await writeRows(4, 'a');
  at.first = await checkpoint();
  await writeRows(5, 'b');
  at.second = await checkpoint();
  await writeRows(3, 'c');
  at.third = await checkpoint();
});
afterAll(async () => {
  await t?.close();
  await admin?.end();
  await login?.drop();
  await rm(dir, { recursive: true, force: true });
});

const rollback = new Error('rollback');

/** A logger that keeps error calls and drops the rest. */
const quietLogger = (errors: unknown[]) =>
  ({ debug() {}, info() {}, warn() {}, error: (...args: unknown[]) => void errors.push(args) }) as unknown as Logger;

/** Runs an attack as the superuser and verifies what it left, then rolls the attack back. */
async function attack(change: (tx: DatabaseTransactionConnection) => Promise<void>, anchored = true): Promise<ChainReport> {
  const { trusted, rejected } = await loadCheckpoints(t.deps.anchor!.sink, t.deps.anchor!.verifier);
  let report: ChainReport | undefined;
  await admin
    .transaction(async (tx) => {
      await tx.query(statement`alter table audit_log disable trigger audit_log_forbid_update`);
      await change(tx);
      report = await verifyAuditChain(tx, anchored ? { checkpoints: trusted, rejectedCheckpoints: rejected } : {});
      throw rollback;
    })
    .catch((error: unknown) => {
      if (error !== rollback) throw error;
    });
  return report!;
}

const idAt = (tx: DatabaseTransactionConnection, seq: number) =>
  tx.oneFirst(sql.type(z.object({ audit_id: z.number() }))`select audit_id from audit_chain where seq = ${seq}`);

/** What an attacker with the database does after forging: recompute every hash from `fromSeq` on. */
async function rechainFrom(tx: DatabaseTransactionConnection, fromSeq: number): Promise<void> {
  let previous = await tx.oneFirst(sql.type(z.object({ hash: z.instanceof(Buffer) }))`
    select coalesce((select hash from audit_chain where seq = ${fromSeq - 1}), '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea) as hash`);
  const rows = await tx.any(sql.type(chainRow.extend({ seq: z.number() }))`
    select c.seq, ${chainColumns} from audit_chain c join audit_log a on a.id = c.audit_id where c.seq >= ${fromSeq} order by c.seq`);
  for (const row of rows) {
    previous = chainHash(previous, row as ChainRow);
    await tx.query(statement`update audit_chain set hash = ${sql.binary(previous)} where seq = ${row.seq}`);
  }
  await tx.query(statement`update audit_chain_state set head_hash = ${sql.binary(previous)}`);
}

describe('the anchored audit chain', () => {
  it('passes on an untouched log, over HTTP, against every signed checkpoint', async () => {
    expect(at.first).toBeGreaterThan(0);
    expect(at.second).toBeGreaterThan(at.first);
    expect(at.third).toBeGreaterThan(at.second);
    const files = await readdir(dir);
    expect(files.filter((f) => f.endsWith('-periodic.json'))).toHaveLength(3);
    const report = await client.request('GET', '/api/audit/verify');
    expect(report.json).toMatchObject({ ok: true, firstBreak: null, checkpoints: 3, headSeq: at.third, baseSeq: 0 });
    // Nothing new sealed: the next tick writes nothing.
    expect(await writeAuditCheckpoint(t.deps.pool, t.deps.anchor!)).toBeNull();
  });

  it('catches a rewritten row at its sequence number', async () => {
    const seq = at.first + 2;
    const report = await attack(async (tx) => {
      await tx.query(statement`update audit_log set detail = '{"after":{"name":"forged"}}' where id = ${await idAt(tx, seq)}`);
    });
    expect(report.firstBreak).toMatchObject({ seq, reason: 'row_altered' });
  });

  it('catches a deleted row at its sequence number', async () => {
    const seq = at.first + 3;
    const report = await attack(async (tx) => {
      await tx.query(statement`delete from audit_log where id = ${await idAt(tx, seq)}`);
    });
    expect(report.firstBreak).toMatchObject({ seq, reason: 'row_missing' });
  });

  it('catches a truncated log, and a truncated log whose chain was truncated and reset too', async () => {
    expect((await attack(async (tx) => void (await tx.query(statement`truncate audit_log`)))).firstBreak).toMatchObject({
      seq: 1,
      reason: 'row_missing',
    });
    const wiped = await attack(async (tx) => {
      await tx.query(statement`truncate audit_log, audit_chain`);
      await tx.query(statement`update audit_chain_state set last_txid = '0'::xid8, last_audit_id = 0, head_seq = 0,
        head_hash = '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea`);
    });
    expect(wiped.firstBreak).toMatchObject({ seq: 1, reason: 'checkpoint_ahead' });
    // The database alone cannot tell: an empty, consistent chain.
    const unanchored = await attack(async (tx) => {
      await tx.query(statement`truncate audit_log, audit_chain`);
      await tx.query(statement`update audit_chain_state set last_txid = '0'::xid8, last_audit_id = 0, head_seq = 0,
        head_hash = '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea`);
    }, false);
    expect(unanchored.ok).toBe(true);
  });

  it('catches the tail deleted with its chain entries and the head moved back', async () => {
    const report = await attack(async (tx) => {
      await tx.query(statement`delete from audit_log a using audit_chain c where c.audit_id = a.id and c.seq > ${at.second}`);
      await tx.query(statement`delete from audit_chain where seq > ${at.second}`);
      await tx.query(statement`update audit_chain_state set head_seq = ${at.second},
        head_hash = (select hash from audit_chain where seq = ${at.second})`);
    });
    expect(report.firstBreak).toMatchObject({ seq: at.second + 1, reason: 'checkpoint_ahead' });
  });

  it('catches a forged row with everything after it re-chained, from the first position after the last good checkpoint', async () => {
    const seq = at.first + 1;
    const forge = async (tx: DatabaseTransactionConnection) => {
      await tx.query(statement`update audit_log set actor = 'someone-else@example.com' where id = ${await idAt(tx, seq)}`);
      await rechainFrom(tx, seq);
    };
    // The database's own chain is consistent again: only the checkpoints outside it notice.
    expect((await attack(forge, false)).ok).toBe(true);
    const report = await attack(forge);
    expect(report.firstBreak).toMatchObject({ seq, reason: 'checkpoint_mismatch' });
    expect(report.firstBreak!.message).toContain(`rows ${seq}..${at.second}`);
  });

  it('refuses a checkpoint file signed by another key', async () => {
    const stranger = createCheckpointSigner(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    const sink = createDirectoryCheckpointSink(dir);
    await sink.write(stranger.sign({ v: 1, seq: 999, hash: 'ab'.repeat(32), auditId: 1, at: new Date().toISOString(), purpose: 'manual' }));
    try {
      const report = await client.request('GET', '/api/audit/verify');
      expect(report.json.firstBreak).toMatchObject({ seq: 999, reason: 'checkpoint_invalid' });
    } finally {
      await rm(path.join(dir, `${String(999).padStart(20, '0')}-manual.json`));
    }
    expect((await client.request('GET', '/api/audit/verify')).json.ok).toBe(true);
  });

  it('the background anchorer checkpoints new rows within an interval', async () => {
    const before = (await readdir(dir)).length;
    const stop = startAuditAnchorer(t.deps.pool, t.deps.anchor!, quietLogger([]), { intervalMs: 50, retentionIntervalMs: 3_600_000 });
    try {
      await writeRows(2, 'e');
      await waitFor(async () => (await readdir(dir)).length === before + 1, 10_000);
    } finally {
      await stop();
    }
  });

  it('CLI: reports a committed re-chained forgery with its first bad sequence number, and the anchorer refuses to anchor it', async () => {
    const seq = at.second + 1;
    await admin.transaction(async (tx) => {
      await tx.query(statement`alter table audit_log disable trigger audit_log_forbid_update`);
      await tx.query(statement`update audit_log set detail = '{"after":{"name":"rewritten"}}' where id = ${await idAt(tx, seq)}`);
      await rechainFrom(tx, seq);
      await tx.query(statement`alter table audit_log enable trigger audit_log_forbid_update`);
    });
    const cli = fileURLToPath(new URL('../audit-verify-cli.ts', import.meta.url));
    const env = { ...process.env, DATABASE_URL: login.url, AUDIT_CHECKPOINT_DIR: dir, AUDIT_CHECKPOINT_KEY: keyPem };
    const run = spawnSync(process.execPath, [cli, 'audit', 'verify'], { env, encoding: 'utf8' });
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 1, stderr: '' });
    expect(run.stdout).toContain(`BROKEN at seq ${seq}`);
    expect(run.stdout).toContain('checkpoint_mismatch');
    // An auditor needs only the public key.
    const publicKeyFile = path.join(dir, '..', `${path.basename(dir)}.pub`);
    await writeFile(publicKeyFile, createPublicKey(keyPem).export({ type: 'spki', format: 'pem' }).toString());
    const auditor = spawnSync(process.execPath, [cli, 'audit', 'verify', '--json', '--checkpoints', dir, '--public-key', publicKeyFile], {
      env: { ...process.env, DATABASE_URL: login.url },
      encoding: 'utf8',
    });
    await rm(publicKeyFile);
    expect(auditor.status).toBe(1);
    expect(JSON.parse(auditor.stdout).firstBreak).toMatchObject({ seq, reason: 'checkpoint_mismatch' });
    // Without the checkpoints the same log looks intact: that is the gap anchoring closes.
    const bare = spawnSync(process.execPath, [cli, 'audit', 'verify'], {
      env: { ...process.env, DATABASE_URL: login.url },
      encoding: 'utf8',
    });
    expect(bare.status).toBe(0);
    expect(bare.stdout).toContain('NOT checked against signed checkpoints');
    const files = (await readdir(dir)).length;
    await writeRows(1, 'd');
    await expect(writeAuditCheckpoint(t.deps.pool, t.deps.anchor!)).rejects.toBeInstanceOf(AuditTamperedError);
    const errors: unknown[] = [];
    const stop = startAuditAnchorer(t.deps.pool, t.deps.anchor!, quietLogger(errors), { intervalMs: 50, retentionIntervalMs: 3_600_000 });
    try {
      await waitFor(async () => errors.length > 0, 10_000);
    } finally {
      await stop();
    }
    expect(errors[0]).toMatchObject([{ firstBreak: { reason: 'checkpoint_mismatch' } }, 'audit chain tampered; not anchoring']);
    expect((await readdir(dir)).length).toBe(files);
  });
});
