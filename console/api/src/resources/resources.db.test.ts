import { sql, statement } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestConsole, type TestClient } from '../testing/test-console.ts';

let t: Awaited<ReturnType<typeof startTestConsole>>;
let admin: TestClient;
beforeAll(async () => {
  t = await startTestConsole();
  admin = await t.signIn();
  const q = (fragment: ReturnType<typeof sql.fragment>) => t.deps.pool.query(statement`${fragment}`);
  await q(sql.fragment`insert into providers (uid, namespace, name, generation, spec, api_key_ciphertext, api_key_fingerprint)
    values ('p1', 'team-a', 'anthropic', 2, '{"type":"anthropic","baseURL":"https://api.anthropic.com"}', '\\xdeadbeef', 'sha256:ab12')`);
  await q(
    sql.fragment`insert into models (uid, namespace, name, generation, spec) values ('m1', 'team-a', 'sonnet', 1, '{"name":"claude-sonnet-5"}')`,
  );
  await q(
    sql.fragment`insert into budgets (uid, namespace, name, generation, spec) values ('b1', 'team-a', 'monthly', 1, '{"amountUSD":100}')`,
  );
  await q(sql.fragment`insert into budget_windows (budget_uid, subject, window_start, window_end, limit_usd, spent_usd)
    values ('b1', 'global', now() - interval '1 day', now() + interval '1 day', 100, 12.5),
           ('b1', 'global', now() - interval '40 days', now() - interval '10 days', 100, 99)`);
});
afterAll(() => t.close());

describe('declared resources', () => {
  it('lists each kind read-only, marked as managed by Kubernetes, never with key material', async () => {
    const r = await admin.request('GET', '/api/resources/providers');
    expect(r.json).toMatchObject({ kind: 'Provider', managedBy: 'kubernetes' });
    expect(r.json.items).toEqual([
      expect.objectContaining({
        namespace: 'team-a',
        name: 'anthropic',
        managedBy: 'kubernetes',
        apiKeyFingerprint: 'sha256:ab12',
        ready: null,
      }),
    ]);
    expect(r.body).not.toContain('deadbeef');
    for (const kind of ['models', 'rate-limits', 'secret-rules'])
      expect((await admin.request('GET', `/api/resources/${kind}`)).status).toBe(200);
    expect((await admin.request('GET', '/api/resources/secrets')).status).toBe(404);
    expect((await admin.request('POST', '/api/resources/providers', {})).status).toBe(404);
  });

  it('shows budgets with the spend of their current window', async () => {
    const r = await admin.request('GET', '/api/resources/budgets');
    expect(r.json.items[0]).toMatchObject({ name: 'monthly', currentSpendUsd: '12.5' });
  });

  it('reads the Ready condition when the operator stores status', async () => {
    await t.deps.pool.query(statement`alter table models add column if not exists status jsonb`);
    await t.deps.pool.query(statement`
      update models set status = '{"conditions":[{"type":"Ready","status":"False","reason":"ProviderNotFound","message":"no provider x"}]}'`);
    const r = await admin.request('GET', '/api/resources/models');
    expect(r.json.items[0]).toMatchObject({ ready: false, reason: 'ProviderNotFound', message: 'no provider x' });
  });
});
