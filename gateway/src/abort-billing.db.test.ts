import { request } from 'node:http';
import { sql, statement } from '@codevector/core/create-pool';
import { countInputTokens } from '@codevector/testbed/fake-provider';
import { waitFor } from '@codevector/testbed/wait-for';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { z } from 'zod';
import { startGateway } from './main.ts';
import { fakeProviders, type GatewayFixture, sonnetModel, startGatewayFixture } from './testing/gateway-fixture.ts';

// Issue #14 §1: a request the upstream received is never billed $0. Each test cuts an answer a
// different way and reads the usage row the gateway wrote against what the fake provider sent.
let fx: GatewayFixture;
const usageRow = z.object({
  request_id: z.string(),
  input_tokens: z.number(),
  output_tokens: z.number(),
  cost_usd: z.string(),
  outcome: z.string(),
  status: z.number(),
  model: z.string(),
});

beforeAll(async () => {
  fx = await startGatewayFixture({
    config: (fake) => ({
      providers: fakeProviders(fake, { timeoutSeconds: 2 }),
      models: [
        sonnetModel,
        {
          name: 'gpt',
          spec: { name: 'gpt-5', providerRef: { name: 'openai' }, upstreamModel: 'gpt-5', pricing: { input: 1.25, output: 10 } },
        },
        {
          name: 'mini',
          spec: { name: 'gpt-mini', providerRef: { name: 'openai' }, upstreamModel: 'gpt-mini', pricing: { input: 0.25, output: 2 } },
        },
      ],
      budgets: [{ name: 'each', spec: { subject: { kind: 'eachUser' }, amountUSD: 100, period: 'month' } }],
    }),
    user: { email: 'aborter@example.com' },
    env: { KEY_CACHE_TTL_MS: '500' },
  });
});
afterAll(() => fx?.close());

const text = 'Summarise the design of a gateway that bills every token it relays, even when the client hangs up.';

/** Sends a streaming request and hangs up after `afterBytes` of the answer; resolves to its request id. */
function abortAfter(path: string, body: unknown, headers: Record<string, string>, afterBytes = 1): Promise<string> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = request(
      `${fx.base}${path}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': fx.key, 'content-length': Buffer.byteLength(payload), ...headers },
      },
      (res) => {
        let got = 0;
        res.on('data', (chunk: Buffer) => {
          got += chunk.length;

          if (got >= afterBytes) {
            req.destroy();
            resolve(String(res.headers['x-codevector-request-id']));
          }
        });
        res.on('error', () => {});
        res.on('end', () => reject(new Error(`the answer (status ${res.statusCode}) ended after ${got} bytes, before the cut`)));
      },
    );
    req.on('error', (error) => {
      if (!req.destroyed) reject(error);
    });
    req.end(payload);
  });
}

const rowOf = (requestId: string) =>
  waitFor(() => fx.pool.maybeOne(sql.type(usageRow)`select * from usage where request_id = ${requestId}`), 10_000);

describe('abort billing (a client that hangs up still pays for what it consumed)', () => {
  it('Anthropic SSE: input from message_start exactly, output from the deltas relayed', async () => {
    const body = { model: 'claude-sonnet-5', max_tokens: 500, stream: true, messages: [{ role: 'user', content: text }] };
    const id = await abortAfter('/v1/messages', body, { 'x-fake-latency-ms': '1500', 'x-fake-output-tokens': '400' }, 600);
    const row = await rowOf(id);
    expect(row.outcome).toBe('client_aborted');
    expect(row.input_tokens).toBe(countInputTokens(body));
    expect(row.output_tokens).toBeGreaterThan(0);
    expect(row.output_tokens).toBeLessThan(400);
    expect(Number(row.cost_usd)).toBeGreaterThan(0);
  });

  it('OpenAI chat SSE: input counted from the body (no usage before the end), output from the deltas', async () => {
    const body = { model: 'gpt-5', stream: true, messages: [{ role: 'user', content: text }] };
    const id = await abortAfter('/v1/chat/completions', body, { 'x-fake-latency-ms': '1500' }, 400);
    const row = await rowOf(id);
    expect(row).toMatchObject({ outcome: 'client_aborted', input_tokens: countInputTokens(body) });
    expect(row.output_tokens).toBeGreaterThan(0);
    expect(Number(row.cost_usd)).toBeGreaterThan(0);
  });

  it('Responses SSE: the same', async () => {
    const body = { model: 'gpt-5', stream: true, input: [{ role: 'user', content: text }] };
    const id = await abortAfter('/v1/responses', body, { 'x-fake-latency-ms': '1500' }, 1500);
    const row = await rowOf(id);
    expect(row).toMatchObject({ outcome: 'client_aborted', input_tokens: countInputTokens(body) });
    expect(row.output_tokens).toBeGreaterThan(0);
  });

  it('non-streaming: a client gone before the answer pays its input and the expected output', async () => {
    const body = { model: 'claude-sonnet-5', max_tokens: 50, messages: [{ role: 'user', content: text }] };
    const payload = JSON.stringify(body);
    const requestIds = new Set(
      (await fx.pool.any(sql.type(z.object({ request_id: z.string() }))`select request_id from usage`)).map((r) => r.request_id),
    );
    const req = request(`${fx.base}/v1/messages`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-api-key': fx.key,
        'x-fake-latency-ms': '800',
        'content-length': Buffer.byteLength(payload),
      },
    });
    req.on('error', () => {});
    req.end(payload);
    await new Promise((resolve) => setTimeout(resolve, 300));
    req.destroy();
    const row = await waitFor(async () => {
      const rows = await fx.pool.any(sql.type(usageRow)`select * from usage where outcome = 'client_aborted' and output_tokens <= 50`);
      return rows.find((r) => !requestIds.has(r.request_id));
    }, 10_000);
    expect(row.input_tokens).toBe(countInputTokens(body));
    expect(row.output_tokens).toBeGreaterThan(0);
  });

  it('upstream reset mid-stream: billed the input the provider reported', async () => {
    const body = { model: 'claude-sonnet-5', max_tokens: 50, stream: true, messages: [{ role: 'user', content: text }] };
    const res = await fetch(`${fx.base}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': fx.key, 'x-fake-fault': 'reset-mid-stream' },
      body: JSON.stringify(body),
    });
    const id = res.headers.get('x-codevector-request-id')!;
    await res.text().catch(() => '');
    const row = await rowOf(id);
    // The fake's cut stream says input_tokens 10 in its message_start.
    expect(row).toMatchObject({ outcome: 'upstream_error', input_tokens: 10 });
    expect(row.output_tokens).toBeGreaterThan(0);
    expect(Number(row.cost_usd)).toBeGreaterThan(0);
  });

  it('upstream hang past its timeout: 504, billed the input it received', async () => {
    const body = { model: 'claude-sonnet-5', max_tokens: 50, messages: [{ role: 'user', content: text }] };
    const res = await fetch(`${fx.base}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': fx.key, 'x-fake-fault': 'hang' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(504);
    const row = await rowOf(res.headers.get('x-codevector-request-id')!);
    expect(row).toMatchObject({ outcome: 'upstream_timeout', input_tokens: countInputTokens(body), output_tokens: 0 });
  });
});

describe('Responses WebSocket: the same pipeline for every message, turns settled by response id', () => {
  function openSocket(headers: Record<string, string> = {}): Promise<WebSocket> {
    const socket = new WebSocket(`ws://127.0.0.1:${fx.gateway.port}/v1/responses`, {
      headers: { authorization: `Bearer ${fx.key}`, 'openai-beta': 'responses_websockets=2026-02-04', ...headers },
    });
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(socket));
      socket.once('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)));
      socket.once('error', reject);
    });
  }
  const next = (socket: WebSocket, done: (e: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>[]>((resolve) => {
      const events: Record<string, unknown>[] = [];
      const on = (data: WebSocket.RawData) => {
        const event = JSON.parse(String(data)) as Record<string, unknown>;
        events.push(event);
        if (done(event)) {
          socket.off('message', on);
          resolve(events);
        }
      };
      socket.on('message', on);
    });
  const wsRows = () => fx.pool.any(sql.type(usageRow)`select * from usage where endpoint = 'responses.websocket' order by at`);

  it('refuses a message type it does not understand, and never relays it', async () => {
    fx.fake.websocketMessages.length = 0;
    const socket = await openSocket();
    const got = next(socket, (e) => e['type'] === 'error');
    socket.send(JSON.stringify({ type: 'session.update', instructions: 'anything at all' }));
    expect((await got).at(-1)).toMatchObject({ type: 'error', status: 400, error: { code: 'gw_unknown_message' } });
    expect(fx.fake.websocketMessages).toHaveLength(0);
    socket.close();
  });

  it('an upstream error settles the turn it answers, not the one in progress', async () => {
    const socket = await openSocket({ 'x-fake-latency-ms': '600' });
    const before = (await wsRows()).length;
    const first = next(socket, (e) => e['type'] === 'response.completed');
    socket.send(JSON.stringify({ type: 'response.create', model: 'gpt-5', input: [{ role: 'user', content: text }] }));
    // While the first turn streams, a second create is rejected by the provider.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const rejected = next(socket, (e) => e['type'] === 'error');
    socket.send(
      JSON.stringify({ type: 'response.create', model: 'gpt-mini', metadata: { fake: 'reject' }, input: [{ role: 'user', content: 'x' }] }),
    );
    await rejected;
    const events = await first;
    const completed = events.at(-1)!['response'] as { usage: { output_tokens: number } };
    const rows = await waitFor(async () => {
      const all = await wsRows();
      return all.length >= before + 2 ? all.slice(before) : null;
    });
    const ok = rows.find((r) => r.outcome === 'ok')!;
    const failed = rows.find((r) => r.outcome === 'upstream_error')!;
    // The completed turn (gpt-5) has the provider's own count; the rejected one (gpt-mini),
    // nothing consumed. Settling the oldest turn on the error would swap the two.
    expect(ok).toMatchObject({ model: 'gpt-5', output_tokens: completed.usage.output_tokens });
    expect(failed).toMatchObject({ model: 'gpt-mini', status: 502, input_tokens: 0, output_tokens: 0 });
    socket.close();
  });

  it('a client that closes mid-turn pays for the turn', async () => {
    const socket = await openSocket({ 'x-fake-latency-ms': '1500' });
    const body = { type: 'response.create', model: 'gpt-5', input: [{ role: 'user', content: text }] };
    const deltas = next(socket, (e) => e['type'] === 'response.output_text.delta');
    socket.send(JSON.stringify(body));
    await deltas;
    socket.close();
    const row = await waitFor(async () => (await wsRows()).find((r) => r.outcome === 'client_aborted'), 10_000);
    const { type: _type, ...request } = body;
    expect(row.input_tokens).toBe(countInputTokens(request));
    expect(row.output_tokens).toBeGreaterThan(0);
    expect(Number(row.cost_usd)).toBeGreaterThan(0);
  });

  it('a key revoked while the socket is open ends the session within a second, with its event', async () => {
    const user = await fx.seedUser({ email: 'revoked-ws@example.com' });
    const socket = new WebSocket(`ws://127.0.0.1:${fx.gateway.port}/v1/responses`, { headers: { authorization: `Bearer ${user.key}` } });
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const closed = new Promise<{ code: number; at: number }>((resolve) =>
      socket.once('close', (code) => resolve({ code, at: Date.now() })),
    );
    const revokedAt = Date.now();
    await fx.pool.query(statement`update api_keys set revoked_at = now() where id = ${user.keyId}`);
    const { code, at } = await closed;
    expect(code).toBe(1008);
    expect(at - revokedAt).toBeLessThan(1000);
    const event = await waitFor(() =>
      fx.pool.maybeOne(
        sql.type(
          z.object({ detail: z.unknown() }),
        )`select detail from audit_log where action = 'gateway.key_refused' and target_id = ${user.keyId}`,
      ),
    );
    expect(event.detail).toMatchObject({ reason: 'revoked' });
  });
});

describe('shutdown (a pod stopped mid-stream)', () => {
  it('bills a stream cut at the end of the grace period before the gateway reports stopped', async () => {
    const replica = await startGateway({ ...fx.gatewayEnv, SHUTDOWN_GRACE_MS: '300' });
    const body = { model: 'claude-sonnet-5', max_tokens: 500, stream: true, messages: [{ role: 'user', content: text }] };
    const payload = JSON.stringify(body);
    const requestId = await new Promise<string>((resolve, reject) => {
      const req = request(`http://127.0.0.1:${replica.port}/v1/messages`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-api-key': fx.key,
          // The answer starts after 2 s and streams for 2 s more: cut in the middle.
          'x-fake-latency-ms': '2000',
          'x-fake-output-tokens': '400',
          'content-length': Buffer.byteLength(payload),
        },
      });
      req.on('response', (res) => {
        res.on('error', () => {});
        res.on('data', (chunk: Buffer) => {
          if (chunk.includes('content_block_delta')) resolve(String(res.headers['x-codevector-request-id']));
        });
      });
      req.on('error', () => {});
      setTimeout(() => reject(new Error('no delta arrived')), 10_000).unref();
      req.end(payload);
    });
    await replica.close();
    // Read at once: "stopped" means every cut request's usage is already written.
    const row = await fx.pool.maybeOne(sql.type(usageRow)`select * from usage where request_id = ${requestId}`);
    expect(row).toMatchObject({ input_tokens: countInputTokens(body) });
    expect(row!.output_tokens).toBeGreaterThan(0);
    expect(Number(row!.cost_usd)).toBeGreaterThan(0);
  });

  it('ends open Responses WebSockets with 1001 and bills their turns in flight', async () => {
    const replica = await startGateway({ ...fx.gatewayEnv, SHUTDOWN_GRACE_MS: '300' });
    const socket = new WebSocket(`ws://127.0.0.1:${replica.port}/v1/responses`, {
      headers: { authorization: `Bearer ${fx.key}`, 'openai-beta': 'responses_websockets=2026-02-04', 'x-fake-latency-ms': '5000' },
    });
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const closeCode = new Promise<number>((resolve) => socket.once('close', resolve));
    const started = new Promise((resolve) => socket.once('message', resolve));
    const before = new Set(
      (await fx.pool.any(sql.type(z.object({ request_id: z.string() }))`select request_id from usage`)).map((r) => r.request_id),
    );
    socket.send(JSON.stringify({ type: 'response.create', model: 'gpt-5', input: [{ role: 'user', content: text }] }));
    await started;
    await replica.close();
    expect(await closeCode).toBe(1001);
    const rows = (await fx.pool.any(sql.type(usageRow)`select * from usage where endpoint = 'responses.websocket'`)).filter(
      (r) => !before.has(r.request_id),
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.input_tokens).toBeGreaterThan(0);
    expect(Number(rows[0]!.cost_usd)).toBeGreaterThan(0);
  });
});
