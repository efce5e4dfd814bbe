import { createPool, type DatabasePool, sql, statement } from '@codevector/core/create-pool';
import { createTestServiceLogin } from '@codevector/core/test-service-login';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { budgetSpend } from './budget-spend.ts';
import type { DesiredRow } from './plan-resource.ts';
import { storeResource } from './store-resource.ts';

// The operator's writes as its own database role (core/migrations/0400): declared config, its
// audit rows and delete intents succeed; the audit rows it wrote cannot be changed by it.
let login: Awaited<ReturnType<typeof createTestServiceLogin>>;
let db: DatabasePool;
let admin: DatabasePool;
beforeAll(async () => {
  login = await createTestServiceLogin('operator');
  db = await createPool(login.url, { applicationName: 'codevector-operator' });
  admin = await createPool(process.env['DATABASE_URL']!);
});
afterAll(async () => {
  await db?.end();
  await admin?.end();
  await login?.drop();
});

const actor = { actor: 'alice', actorSource: 'kubernetes' as const };
const model = (upstreamModel: string): DesiredRow => ({
  uid: 'm-1',
  namespace: 'ns',
  name: 'sonnet',
  generation: 1,
  spec: { name: 'claude-sonnet-5', providerRef: { name: 'anthropic' }, upstreamModel, pricing: { input: 3, output: 15 } },
  apiKeyFingerprint: null,
});

describe('the operator on its own database role', () => {
  it('creates, updates and deletes declared config with one audit row each, and records delete intents', async () => {
    await storeResource(db, { target: 'model', namespace: 'ns', name: 'sonnet', desired: model('x'), actor });
    await storeResource(db, { target: 'model', namespace: 'ns', name: 'sonnet', desired: { ...model('y'), generation: 2 }, actor });
    await db.query(statement`
      insert into operator_delete_intents (uid, kind, namespace, name, actor) values ('m-1', 'Model', 'ns', 'sonnet', 'bob')
      on conflict (uid) do update set actor = excluded.actor, at = now()`);
    await db.query(statement`
      insert into operator_delete_intents (uid, kind, namespace, name, actor) values ('m-1', 'Model', 'ns', 'sonnet', 'bob')
      on conflict (uid) do update set actor = excluded.actor, at = now()`);
    await storeResource(db, {
      target: 'model',
      namespace: 'ns',
      name: 'sonnet',
      desired: null,
      actor: { actor: 'bob', actorSource: 'kubernetes' },
    });
    await db.query(statement`delete from operator_delete_intents where uid = 'm-1'`);
    const actions = await admin.anyFirst(sql.type(z.object({ action: z.string() }))`select action from audit_log order by id`);
    expect(actions).toEqual(['model.created', 'model.updated', 'model.deleted']);
    const spend = await budgetSpend(
      db,
      { uid: 'b-1', amount: 10_000_000_000_000n as never, period: 'day', timeZone: 'UTC' } as never,
      new Date(),
    );
    expect(spend).toBeDefined();
    await expect(db.query(statement`update audit_log set actor = 'mallory'`)).rejects.toThrow(/permission denied/);
  });
});
