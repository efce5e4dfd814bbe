import { createPool, type DatabasePool, sql, statement } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { DesiredRow } from './plan-resource.ts';
import { storeResource } from './store-resource.ts';

let db: DatabasePool;
beforeAll(async () => {
  db = await createPool(process.env['DATABASE_URL']!);
});
afterAll(async () => {
  await db.end();
});

const auditRows = () =>
  db.any(sql.type(z.object({ action: z.string(), actor: z.string(), target_id: z.string(), target_name: z.string(), detail: z.unknown() }))`
    select action, actor, target_id, target_name, detail from audit_log order by id`);
const version = () => db.oneFirst(sql.type(z.object({ version: z.number() }))`select version from config_state`);
const actor = { actor: 'alice', actorSource: 'kubernetes' as const };
const model = (patch: Partial<DesiredRow> = {}): DesiredRow => ({
  uid: 'm-1',
  namespace: 'ns',
  name: 'sonnet',
  generation: 1,
  spec: { name: 'claude-sonnet-5', providerRef: { name: 'anthropic' }, upstreamModel: 'x', pricing: { input: 3, output: 15 } },
  apiKeyFingerprint: null,
  ...patch,
});

describe('storeResource', () => {
  it('writes the row, one audit row and a config version bump together, and nothing for a no-op', async () => {
    const created = await storeResource(db, { target: 'model', namespace: 'ns', name: 'sonnet', desired: model(), actor });
    expect(created.plan.type).toBe('insert');
    expect(await version()).toBe(1);
    const again = await storeResource(db, { target: 'model', namespace: 'ns', name: 'sonnet', desired: model({ generation: 2 }), actor });
    expect(again).toEqual({ plan: { type: 'none', why: 'unchanged' }, configVersion: null });
    expect(await auditRows()).toEqual([
      {
        action: 'model.created',
        actor: 'alice',
        target_id: 'm-1',
        target_name: 'ns/sonnet',
        detail: { before: null, after: model().spec },
      },
    ]);
    expect(await version()).toBe(1);
  });

  it('fails the change when the audit insert fails, leaving the row as it was', async () => {
    await db.query(statement`
      create function fail_audit() returns trigger language plpgsql as $$ begin raise exception 'audit is down'; end $$`);
    await db.query(statement`create trigger fail_audit before insert on audit_log for each row execute function fail_audit()`);
    const changed = model({ generation: 2, spec: { ...model().spec, upstreamModel: 'y' } });
    await expect(storeResource(db, { target: 'model', namespace: 'ns', name: 'sonnet', desired: changed, actor })).rejects.toMatchObject({
      code: 'CORE_AUDIT_WRITE_FAILED',
    });
    const spec = await db.oneFirst(
      sql.type(z.object({ spec: z.record(z.string(), z.unknown()) }))`select spec from models where uid = 'm-1'`,
    );
    expect(spec['upstreamModel']).toBe('x');
    await db.query(statement`drop trigger fail_audit on audit_log`);
    await storeResource(db, { target: 'model', namespace: 'ns', name: 'sonnet', desired: changed, actor });
    const rows = await auditRows();
    expect(rows.map((r) => r.action)).toEqual(['model.created', 'model.updated']);
    expect(rows[1]?.detail).toEqual({ before: { upstreamModel: 'x' }, after: { upstreamModel: 'y' } });
  });

  it('records a recreated object (same name, new uid) as a delete and a create', async () => {
    await storeResource(db, {
      target: 'model',
      namespace: 'ns',
      name: 'sonnet',
      desired: model({ uid: 'm-2' }),
      actor,
      replacedActor: { actor: 'system', actorSource: 'system' },
    });
    const rows = (await auditRows()).slice(-2);
    expect(rows.map((r) => [r.action, r.target_id, r.actor])).toEqual([
      ['model.deleted', 'm-1', 'system'],
      ['model.created', 'm-2', 'alice'],
    ]);
  });

  it('never lets a stale view (an old generation, e.g. a deposed leader) regress the row', async () => {
    const current = await db.one(
      sql.type(z.object({ generation: z.number(), spec: z.any() }))`select generation, spec from models where uid = 'm-2'`,
    );
    const before = (await auditRows()).length;
    const stale = await storeResource(db, {
      target: 'model',
      namespace: 'ns',
      name: 'sonnet',
      desired: model({ uid: 'm-2', generation: current.generation - 1, spec: { old: true } }),
      actor,
    });
    expect(stale.plan).toEqual({ type: 'none', why: 'stale' });
    expect(await auditRows()).toHaveLength(before);
  });

  it('deletes with an audit row, and a second delete writes nothing', async () => {
    const removed = await storeResource(db, {
      target: 'model',
      namespace: 'ns',
      name: 'sonnet',
      desired: null,
      actor: { actor: 'bob', actorSource: 'kubernetes' },
    });
    expect(removed.plan.type).toBe('delete');
    const again = await storeResource(db, { target: 'model', namespace: 'ns', name: 'sonnet', desired: null, actor });
    expect(again.plan).toEqual({ type: 'none', why: 'absent' });
    expect((await auditRows()).at(-1)).toMatchObject({ action: 'model.deleted', actor: 'bob', target_name: 'ns/sonnet' });
  });

  it('stores the sealed key for providers', async () => {
    await storeResource(db, {
      target: 'provider',
      namespace: 'ns',
      name: 'anthropic',
      desired: {
        uid: 'p-1',
        namespace: 'ns',
        name: 'anthropic',
        generation: 1,
        spec: { type: 'anthropic' },
        apiKeyFingerprint: 'sha256:abc',
      },
      actor,
      sealApiKey: () => Buffer.from('sealed'),
    });
    const row = await db.one(sql.type(z.object({ api_key_ciphertext: z.instanceof(Buffer), api_key_fingerprint: z.string() }))`
      select api_key_ciphertext, api_key_fingerprint from providers where uid = 'p-1'`);
    expect(row.api_key_ciphertext.toString()).toBe('sealed');
    expect((await auditRows()).at(-1)?.detail).toEqual({ before: null, after: { type: 'anthropic', keyFingerprint: 'sha256:abc' } });
  });
});
