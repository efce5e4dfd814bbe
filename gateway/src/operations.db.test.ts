import { randomBytes } from 'node:crypto';
import { createPool, type DatabasePool, sql } from '@codevector/core/create-pool';
import { createSecretBox } from '@codevector/core/secret-box';
import { type FakeProvider, startFakeProvider } from '@codevector/testbed/fake-provider';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startGateway } from './main.ts';
import { seedGatewayConfig, seedUserWithKey } from './seed-config.ts';

const encryptionKey = randomBytes(32).toString('base64');
let pool: DatabasePool;
let fake: FakeProvider;
let gateway: Awaited<ReturnType<typeof startGateway>> | null = null;
let key: string;

beforeAll(async () => {
  pool = await createPool(process.env['DATABASE_URL']!, { maxPoolSize: 4 });
  fake = await startFakeProvider({ record: false });
  await seedGatewayConfig(pool, createSecretBox(encryptionKey), {
    providers: [{ name: 'openai', spec: { type: 'openai', baseURL: `${fake.url}/v1` }, apiKey: 'sk-up' }],
    models: [
      { name: 'gpt', spec: { name: 'gpt-5', providerRef: { name: 'openai' }, upstreamModel: 'gpt-5', pricing: { input: 1, output: 10 } } },
      {
        name: 'flood',
        spec: { name: 'flood', providerRef: { name: 'openai' }, upstreamModel: 'gpt-5', pricing: { input: 1, output: 10 } },
      },
    ],
    rateLimits: [{ name: 'flood', spec: { subject: { kind: 'global' }, requestsPerMinute: 1, models: ['flood'] } }],
  });
  ({ key } = await seedUserWithKey(pool, { email: 'ops@example.com' }));
  gateway = await startGateway({
    DATABASE_URL: process.env['DATABASE_URL'],
    CODEVECTOR_ENCRYPTION_KEY: encryptionKey,
    PORT: '0',
    METRICS_PORT: '0',
    LOG_LEVEL: 'silent',
  });
});

afterAll(async () => {
  await gateway?.close();
  await fake?.close();
  await pool?.end();
});

describe('operations port', () => {
  it('serves health, readiness and Prometheus metrics apart from client traffic', async () => {
    const ops = `http://127.0.0.1:${gateway!.metricsPort}`;
    await fetch(`http://127.0.0.1:${gateway!.port}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-5', messages: [{ role: 'user', content: 'hi' }] }),
    });
    await fetch(`http://127.0.0.1:${gateway!.port}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
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
    expect((await fetch(`http://127.0.0.1:${gateway!.port}/metrics`)).status).toBe(404);
  });
});

describe('config listener', () => {
  it('reconnects after losing its connection and catches up on changes made meanwhile', async () => {
    await pool.query(sql.type(z.object({}))`
      select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'codevector-gateway-listen' and datname = current_database()`);
    await seedGatewayConfig(pool, createSecretBox(encryptionKey), {
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
      const res = await fetch(`http://127.0.0.1:${gateway!.port}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'late-model', messages: [{ role: 'user', content: 'hi' }] }),
      });
      status = res.status;
      await res.arrayBuffer();
      if (status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(status).toBe(200);
    const listeners = await pool.oneFirst(sql.type(z.object({ n: z.number() }))`
      select count(*)::int as n from pg_stat_activity where application_name = 'codevector-gateway-listen' and datname = current_database()`);
    expect(listeners).toBe(1);
  });
});

describe('rejection flood (short; the 30 s flood is in the benchmark)', () => {
  it('finds every refusal a client saw in audit_log, including those in flight at shutdown', async () => {
    const client = new Pool(`http://127.0.0.1:${gateway!.port}`, { connections: 50 });
    const body = JSON.stringify({ model: 'flood', max_tokens: 1, messages: [{ role: 'user', content: 'x' }] });
    let refused = 0;
    const until = Date.now() + 2000;
    const worker = async () => {
      while (Date.now() < until) {
        const res = await client.request({
          path: '/v1/chat/completions',
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body,
        });
        await res.body.dump();
        if (res.statusCode === 429) refused++;
      }
    };
    await Promise.all(Array.from({ length: 50 }, worker));
    await client.close();
    await gateway!.close();
    gateway = null;
    const rows = await pool.oneFirst(sql.type(z.object({ n: z.number() }))`
      select count(*)::int as n from audit_log where action = 'gateway.rate_limit_exceeded'`);
    expect(refused).toBeGreaterThan(1000);
    expect(rows).toBe(refused);
  });
});
