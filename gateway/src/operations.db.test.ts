import { sql, statement } from '@codevector/core/create-pool';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type GatewayFixture, startGatewayFixture } from './testing/gateway-fixture.ts';

let fx: GatewayFixture;

beforeAll(async () => {
  fx = await startGatewayFixture({
    fakeProvider: { record: false },
    user: { email: 'ops@example.com' },
    config: (fake) => ({
      providers: [{ name: 'openai', spec: { type: 'openai', baseURL: `${fake.url}/v1` }, apiKey: 'sk-up' }],
      models: [
        {
          name: 'gpt',
          spec: { name: 'gpt-5', providerRef: { name: 'openai' }, upstreamModel: 'gpt-5', pricing: { input: 1, output: 10 } },
        },
        {
          name: 'flood',
          spec: { name: 'flood', providerRef: { name: 'openai' }, upstreamModel: 'gpt-5', pricing: { input: 1, output: 10 } },
        },
      ],
      rateLimits: [{ name: 'flood', spec: { subject: { kind: 'global' }, requestsPerMinute: 1, models: ['flood'] } }],
    }),
  });
});

afterAll(async () => {
  await fx?.close();
});

describe('operations port', () => {
  it('serves health, readiness and Prometheus metrics apart from client traffic', async () => {
    const ops = `http://127.0.0.1:${fx.gateway.metricsPort}`;
    await fetch(`${fx.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-5', messages: [{ role: 'user', content: 'hi' }] }),
    });
    await fetch(`${fx.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'nope', messages: [] }),
    });
    expect((await fetch(`${ops}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${ops}/readyz`)).json()).toMatchObject({ status: 'ready' });
    const text = await (await fetch(`${ops}/metrics`)).text();
    expect(text).toContain('codevector_gateway_requests_total{surface="chat.completions",status="200"} 1');
    expect(text).toContain('codevector_gateway_rejections_total{reason="model_not_found"} 1');
    expect(text).toMatch(/codevector_gateway_tokens_total\{model="gpt-5",kind="output"\} \d+/);
    expect(text).toMatch(/codevector_gateway_upstream_latency_seconds_count\{provider="default\/openai"\} 1/);
    expect(text).toContain('codevector_gateway_cost_usd_total{model="gpt-5"}');
    expect((await fetch(`${fx.base}/metrics`)).status).toBe(404);
  });
});

describe('config listener', () => {
  it('reconnects after losing its connection and catches up on changes made meanwhile', async () => {
    await fx.pool.query(statement`
      select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'codevector-gateway-listen' and datname = current_database()`);
    await fx.seedConfig({
      models: [
        {
          name: 'late',
          spec: { name: 'late-model', providerRef: { name: 'openai' }, upstreamModel: 'gpt-5', pricing: { input: 1, output: 1 } },
        },
      ],
    });
    const until = Date.now() + 5000;
    let status = 0;
    while (Date.now() < until) {
      const res = await fetch(`${fx.base}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'late-model', messages: [{ role: 'user', content: 'hi' }] }),
      });
      status = res.status;
      await res.arrayBuffer();
      if (status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(status).toBe(200);
    const listeners = await fx.pool.oneFirst(sql.type(z.object({ n: z.number() }))`
      select count(*)::int as n from pg_stat_activity where application_name = 'codevector-gateway-listen' and datname = current_database()`);
    expect(listeners).toBe(1);
  });
});

describe('rejection flood (short; the 30 s flood is in the benchmark)', () => {
  it('finds every refusal a client saw in audit_log, including those in flight at shutdown', async () => {
    const client = new Pool(fx.base, { connections: 50 });
    const body = JSON.stringify({ model: 'flood', max_tokens: 1, messages: [{ role: 'user', content: 'x' }] });
    let refused = 0;
    // A fixed number of requests, not a time window: on a loaded machine a window holds fewer.
    const worker = async () => {
      for (let i = 0; i < 30; i++) {
        const res = await client.request({
          path: '/v1/chat/completions',
          method: 'POST',
          headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json' },
          body,
        });
        await res.body.dump();
        if (res.statusCode === 429) refused++;
      }
    };
    await Promise.all(Array.from({ length: 50 }, worker));
    await client.close();
    await fx.gateway.close();
    const rows = await fx.pool.oneFirst(sql.type(z.object({ n: z.number() }))`
      select count(*)::int as n from audit_log where action = 'gateway.rate_limit_exceeded'`);
    expect(refused).toBeGreaterThan(1000);
    expect(rows).toBe(refused);
  });
});
