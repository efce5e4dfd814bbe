import { statement } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestConsole, type TestClient } from '../testing/test-console.ts';

// The events of SecretRule actions (ADR 0115) as the console lists them: each action is its own
// audit action, in the filter bar's facets and selectable by the action filter.
let t: Awaited<ReturnType<typeof startTestConsole>>;
let admin: TestClient;

beforeAll(async () => {
  t = await startTestConsole();
  admin = await t.signIn();
  await t.deps.pool.query(statement`
    insert into audit_log (at, action, target_type, target_id, target_name, actor, actor_source, detail, request_id)
    select timestamptz '2031-01-01T00:00:00Z' + (i * interval '1 minute'),
      (array['gateway.secret_blocked', 'gateway.secret_redacted', 'gateway.secret_observed'])[1 + i % 3],
      'secret_rule', null, 'team/rule-' || (i % 3), 'dev@example.com', 'gateway',
      jsonb_build_object('rule', 'aws-access-key-id', 'action', (array['block', 'redact', 'observe'])[1 + i % 3], 'fingerprint', 'abc123'),
      'req-' || i
    from generate_series(1, 30) i`);
});
afterAll(() => t.close());

describe('audit log: secret rule actions', () => {
  it('offers each action in the facets and filters by it', async () => {
    const facets = (await admin.request('GET', '/api/audit/facets')).json as { actions: string[] };
    expect(facets.actions).toEqual(
      expect.arrayContaining(['gateway.secret_blocked', 'gateway.secret_redacted', 'gateway.secret_observed']),
    );
    const taken: Record<string, string> = { secret_blocked: 'block', secret_redacted: 'redact', secret_observed: 'observe' };
    for (const action of Object.keys(taken)) {
      const page = await admin.request('GET', `/api/audit?${new URLSearchParams({ action, limit: '100' })}`);
      expect(page.status).toBe(200);
      const entries = page.json.entries as { action: string; detail: { action: string } }[];
      expect(entries).toHaveLength(10);
      expect(new Set(entries.map((e) => e.action))).toEqual(new Set([`gateway.${action}`]));
      expect(new Set(entries.map((e) => e.detail.action))).toEqual(new Set([taken[action]]));
    }
    const all = await admin.request('GET', `/api/audit?${new URLSearchParams({ action: 'gateway.secret_', limit: '100' })}`);
    expect(all.json.entries).toHaveLength(30);
  });
});
