import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createPool, type DatabasePool, sql, statement } from './create-pool.ts';
import { CodeVectorError } from './errors.ts';
import { writeAuditEntry } from './write-audit-entry.ts';

let pool: DatabasePool;
beforeAll(async () => {
  pool = await createPool(process.env['DATABASE_URL']!);
});
afterAll(async () => {
  await pool.end();
});

const countRows = () => pool.oneFirst(sql.type(z.object({ n: z.number() }))`select count(*)::int as n from audit_log`);

describe('writeAuditEntry', () => {
  it('commits the change and its audit row together', async () => {
    await pool.transaction(async (tx) => {
      await tx.query(statement`insert into groups (name) values ('platform')`);
      await writeAuditEntry(tx, {
        action: 'group.created',
        targetType: 'group',
        targetName: 'platform',
        actor: 'alice@example.com',
        actorSource: 'console',
        detail: { before: null, after: { name: 'platform' } },
      });
    });
    const row = await pool.one(sql.type(z.object({ action: z.string(), actor: z.string(), detail: z.unknown(), at: z.date() }))`
      select action, actor, detail, at from audit_log order by id desc limit 1`);
    expect(row).toMatchObject({ action: 'group.created', actor: 'alice@example.com', detail: { after: { name: 'platform' } } });
  });

  it('rolls the change back when the audit insert fails', async () => {
    // A trigger that raises stands in for any audit write failure (disk, permissions, constraint).
    await pool.query(statement`
      create function fail_audit() returns trigger language plpgsql as $$ begin raise exception 'audit offline'; end $$`);
    await pool.query(statement`create trigger fail_audit before insert on audit_log for each row execute function fail_audit()`);
    const before = await countRows();
    await expect(
      pool.transaction(async (tx) => {
        await tx.query(statement`insert into groups (name) values ('doomed')`);
        await writeAuditEntry(tx, { action: 'group.created', targetType: 'group', actor: 'a', actorSource: 'console' });
      }),
    ).rejects.toBeInstanceOf(CodeVectorError);
    await pool.query(statement`drop trigger fail_audit on audit_log`);
    expect(await countRows()).toBe(before);
    expect(await pool.exists(sql.type(z.object({ x: z.number() }))`select 1 as x from groups where name = 'doomed'`)).toBe(false);
  });

  it('refuses an entry without a well-formed action', async () => {
    await expect(
      pool.transaction((tx) => writeAuditEntry(tx, { action: 'Created', targetType: 'x', actor: 'a', actorSource: 'system' })),
    ).rejects.toThrow(/action is <target>.<verb>/);
  });
});
