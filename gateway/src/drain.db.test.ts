import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayFixture, startGatewayFixture } from './testing/gateway-fixture.ts';

// A rollout stops a gateway pod while agents hold keep-alive connections to it (the chart's
// preStop sleep, then SIGTERM). Regression: closing at once answered those connections' next
// requests with 503, which the cluster e2e counted as failed requests during `helm upgrade`.
let fx: GatewayFixture;

beforeAll(async () => {
  fx = await startGatewayFixture({
    fakeProvider: { record: false },
    user: { email: 'drain@example.com' },
    env: { SHUTDOWN_DRAIN_MS: '1500' },
    config: (fake) => ({
      providers: [{ name: 'openai', spec: { type: 'openai', baseURL: `${fake.url}/v1` }, apiKey: 'sk-up' }],
      models: [
        {
          name: 'gpt',
          spec: { name: 'gpt-5', providerRef: { name: 'openai' }, upstreamModel: 'gpt-5', pricing: { input: 1, output: 10 } },
        },
      ],
    }),
  });
});

afterAll(async () => {
  await fx?.close();
});

describe('shutdown drain', () => {
  it('keeps serving keep-alive clients, tells them to reconnect and reports not ready, then closes', async () => {
    const client = new Pool(fx.base, { connections: 1 });
    const ask = async () => {
      const res = await client.request({
        path: '/v1/chat/completions',
        method: 'POST',
        headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-5', messages: [{ role: 'user', content: 'hi' }] }),
      });
      await res.body.dump();
      return { status: res.statusCode, connection: res.headers['connection'] };
    };
    expect(await ask()).toEqual({ status: 200, connection: 'keep-alive' });

    const closed = fx.gateway.close();
    const ready = await fetch(`http://127.0.0.1:${fx.gateway.metricsPort}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ reason: 'draining' });
    // Served, not refused, and told to close: the next request opens a new connection.
    expect(await ask()).toEqual({ status: 200, connection: 'close' });
    expect(await ask()).toEqual({ status: 200, connection: 'close' });
    await closed;
    await expect(ask()).rejects.toThrow();
    await client.close();
  });
});
