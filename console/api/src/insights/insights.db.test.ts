import { statement } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestConsole, type TestClient } from '../testing/test-console.ts';

let t: Awaited<ReturnType<typeof startTestConsole>>;
let admin: TestClient;
beforeAll(async () => {
  t = await startTestConsole();
  admin = await t.signIn();
});
afterAll(() => t.close());

describe('dashboard and connect', () => {
  it('reports daily spend by user, group and model, and rejections by reason', async () => {
    const user = (await admin.request('POST', '/api/users', { email: 'sam@example.com', role: 'member', password: 'sam password 123' }))
      .json.user;
    const group = (await admin.request('POST', '/api/groups', { name: 'ml' })).json.group;
    await admin.request('POST', `/api/groups/${group.id}/members`, { userId: user.id });
    await t.deps.pool.query(statement`
      insert into usage (at, request_id, user_id, model, cost_usd, status, outcome, latency_ms)
      values (now(), 'r1', ${user.id}, 'claude-sonnet-5', 1.25, 200, 'ok', 100),
             (now(), 'r2', ${user.id}, 'gpt-5', 0.75, 200, 'ok', 100),
             (now() - interval '40 days', 'r3', ${user.id}, 'gpt-5', 99, 200, 'ok', 100)`);
    await t.deps.pool.query(statement`
      insert into audit_log (action, target_type, actor, actor_source, detail)
      values ('gateway.rate_limit_exceeded', 'api_key', 'sam@example.com', 'gateway', '{"limit":"team"}'),
             ('gateway.rate_limit_exceeded', 'api_key', 'sam@example.com', 'gateway', '{"limit":"team"}'),
             ('gateway.secret_blocked', 'api_key', 'sam@example.com', 'gateway', '{"rule":"aws"}')`);
    const r = await admin.request('GET', '/api/dashboard?days=7');
    const today = new Date().toISOString().slice(0, 10);
    expect(r.json.spendByUser).toEqual([{ day: today, key: 'sam@example.com', value: 2 }]);
    expect(r.json.spendByGroup).toEqual([{ day: today, key: 'ml', value: 2 }]);
    expect(r.json.spendByModel).toEqual([
      { day: today, key: 'claude-sonnet-5', value: 1.25 },
      { day: today, key: 'gpt-5', value: 0.75 },
    ]);
    expect(r.json.rejections).toEqual([
      { day: today, key: 'gateway.rate_limit_exceeded', value: 2 },
      { day: today, key: 'gateway.secret_blocked', value: 1 },
    ]);
    const member = await t.signIn('sam@example.com', 'sam password 123');
    expect((await member.request('GET', '/api/dashboard')).status).toBe(403);
    expect((await member.request('GET', '/api/connect')).json.gatewayUrl).toBe('https://gateway.example.com');
  });

  it('serves the API without a built web app and answers unknown API paths with JSON 404', async () => {
    const r = await admin.request('GET', '/api/nope');
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe('CON_NOT_FOUND');
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ ok: true });
  });
});
