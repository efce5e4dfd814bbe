import type { AddressInfo } from 'node:net';
import { createLogger } from '@codevector/core/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type GatewayDeps } from './build-app.ts';
import { createGatewayMetrics } from './gateway-metrics.ts';

// The metered POST routes bypass fastify's router (ADR 0110); these pin what that path must keep:
// the body limit, query strings, the caller's error shape, and fastify for everything else.
// No snapshot is loaded, so a request that reaches the proxy is answered GW_NOT_READY.
const deps = {
  snapshots: { current: () => null },
  metrics: createGatewayMetrics(),
  logger: createLogger({ name: 'test', level: 'silent' }),
  bodyLimitBytes: 1000,
} as unknown as GatewayDeps;

const app = buildApp(deps);
let base = '';
beforeAll(async () => {
  await app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});
afterAll(() => app.close());

describe('hot routes', () => {
  it('hands the body to the proxy, with a query string, in the caller shape', async () => {
    const res = await fetch(`${base}/v1/messages?beta=true`, { method: 'POST', body: '{"model":"m"}' });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'api_error' } });
    const openai = await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: '{}', headers: { 'content-type': 'text/plain' } });
    expect(openai.status).toBe(503);
    expect(await openai.json()).toMatchObject({ error: { code: 'gw_not_ready' } });
  });

  it('refuses a body over the limit, declared or streamed', async () => {
    const declared = await fetch(`${base}/v1/messages`, { method: 'POST', body: 'x'.repeat(2000) });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toMatchObject({ type: 'error', error: { type: 'request_too_large' } });
    const chunks = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 4; i++) controller.enqueue(new TextEncoder().encode('y'.repeat(400)));
        controller.close();
      },
    });
    const streamed = await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: chunks, duplex: 'half' } as RequestInit);
    expect(streamed.status).toBe(413);
  });

  it('leaves other methods and paths to fastify', async () => {
    const res = await fetch(`${base}/v1/nope`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
  });
});
