import { sql } from '@codevector/core/create-pool';
import { createTestServiceLogin } from '@codevector/core/test-service-login';
import { waitFor } from '@codevector/testbed/wait-for';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fakeProviders, type GatewayFixture, sonnetModel, startGatewayFixture } from './testing/gateway-fixture.ts';

// The gateway as it runs in production: connected as a login of the codevector_gateway group
// role (core/migrations/0400), which may not touch audit rows beyond inserting them. The
// fixture's own pool (superuser) only seeds and reads.
let fx: GatewayFixture;
let login: Awaited<ReturnType<typeof createTestServiceLogin>>;

beforeAll(async () => {
  login = await createTestServiceLogin('gateway');
  fx = await startGatewayFixture({
    config: (fake) => ({
      providers: fakeProviders(fake, { timeoutSeconds: 5 }),
      models: [sonnetModel],
      budgets: [{ name: 'daily', spec: { subject: { kind: 'eachUser' }, amountUSD: '100', period: 'day' } }],
      rateLimits: [{ name: 'rpm', spec: { subject: { kind: 'eachUser' }, requestsPerMinute: 1000 } }],
      secretRules: [{ name: 'builtin', spec: { detectors: ['all'] } }],
    }),
    user: { email: 'dev@example.com' },
    env: { DATABASE_URL: login.url },
  });
});
afterAll(async () => {
  await fx?.close();
  await login?.drop();
});

const post = (body: unknown) =>
  fetch(`${fx.base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': fx.key },
    body: JSON.stringify(body),
  });

describe('the gateway on its own database role', () => {
  it('connects as its login, proxies, settles budgets and rate limits, and records usage', async () => {
    const sessions = await fx.pool.anyFirst(sql.type(z.object({ usename: z.string() }))`
      select usename from pg_stat_activity where application_name like 'codevector-gateway%' and datname = current_database()`);
    expect(sessions.length).toBeGreaterThan(0);
    expect(new Set(sessions)).toEqual(new Set([login.user]));
    const response = await post({ model: 'claude-sonnet-5', max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }] });
    expect(response.status).toBe(200);
    await response.text();
    await waitFor(async () => {
      const n = await fx.pool.oneFirst(sql.type(z.object({ n: z.number() }))`select count(*)::int as n from usage where status = 200`);
      return n === 1;
    });
    const spent = await waitFor(async () => {
      const value = await fx.pool.maybeOneFirst(
        sql.type(z.object({ s: z.string() }))`select sum(spent_usd)::text as s from budget_windows`,
      );
      return value && Number(value) > 0 ? value : undefined;
    });
    expect(Number(spent)).toBeGreaterThan(0);
  });

  it('writes its rejections to the audit log', async () => {
    const response = await post({ model: 'no-such-model', max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] });
    expect(response.status).toBeGreaterThanOrEqual(400);
    const actions = await fx.pool.anyFirst(sql.type(z.object({ action: z.string() }))`select action from audit_log order by id`);
    expect(actions).toContain('gateway.model_not_found');
  });
});
