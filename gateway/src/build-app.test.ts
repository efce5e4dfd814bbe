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
  headersTimeoutMs: 1000,
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

  it('does not read a body before the proxy has checked the key (the body limit applies after it)', async () => {
    const declared = await fetch(`${base}/v1/messages`, { method: 'POST', body: 'x'.repeat(2000) });
    expect(declared.status).toBe(503);
  });

  it('answers a client whose headers never finish with 408 in an API shape, and a malformed request with 400', async () => {
    const { connect } = await import('node:net');
    const talk = (text: string) =>
      new Promise<string>((resolve) => {
        const socket = connect((app.server.address() as AddressInfo).port, '127.0.0.1', () => socket.write(text));
        let got = '';
        socket.on('data', (chunk) => {
          got += chunk.toString();
        });
        socket.on('close', () => resolve(got));
        socket.on('error', () => resolve(got));
      });
    const started = Date.now();
    const slow = await talk('POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: k');
    expect(slow).toMatch(/^HTTP\/1.1 408/);
    expect(JSON.parse(slow.slice(slow.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { code: 'gw_request_timeout' } });
    expect(Date.now() - started).toBeLessThan(5000);
    const injected = await talk('POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-a: b\rinjected: 1\r\n\r\n');
    expect(injected).toMatch(/^HTTP\/1.1 400/);
    expect(JSON.parse(injected.slice(injected.indexOf('\r\n\r\n') + 4))).toMatchObject({
      type: 'error',
      error: { type: 'invalid_request_error' },
    });
  });

  it('leaves other methods and paths to fastify', async () => {
    const res = await fetch(`${base}/v1/nope`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
  });
});
