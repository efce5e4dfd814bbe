import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { z } from 'zod';
import { type GatewayFixture, startGatewayFixture } from './testing/gateway-fixture.ts';

// A Model's fallbacks through the real gateway, real HTTP and PostgreSQL, against the fake
// provider: each Provider below is the fake provider told to fail in its own way through the
// Provider's headers (as a real provider fails for everyone), with its own key, so the recorded
// requests say which provider each attempt reached.
let fx: GatewayFixture;
let closedPort: number;
// Accepts connections and answers nothing, so its headers timeout is the failure.
let silent: Server;

const keys = {
  overloaded: 'sk-ant-overloaded',
  failing: 'sk-ant-failing',
  backup: 'sk-ant-backup',
  cut: 'sk-ant-cut',
  openaiLimited: 'sk-oai-limited',
  openaiBackup: 'sk-oai-backup',
};
const pricing = { input: 3, output: 15 };

beforeAll(async () => {
  // A port nothing listens on: connection refused.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  silent = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const silentPort = (silent.address() as AddressInfo).port;

  fx = await startGatewayFixture({
    config: (fake) => ({
      providers: [
        {
          name: 'overloaded',
          spec: { type: 'anthropic', baseURL: fake.url, headers: { 'x-fake-status': '529' } },
          apiKey: keys.overloaded,
        },
        { name: 'failing', spec: { type: 'anthropic', baseURL: fake.url, headers: { 'x-fake-status': '500' } }, apiKey: keys.failing },
        { name: 'unreachable', spec: { type: 'anthropic', baseURL: `http://127.0.0.1:${closedPort}` }, apiKey: 'sk-ant-none' },
        { name: 'silent', spec: { type: 'anthropic', baseURL: `http://127.0.0.1:${silentPort}`, timeoutSeconds: 1 }, apiKey: 'sk-ant-x' },
        { name: 'backup', spec: { type: 'anthropic', baseURL: fake.url }, apiKey: keys.backup },
        { name: 'cut', spec: { type: 'anthropic', baseURL: fake.url, headers: { 'x-fake-fault': 'reset-mid-stream' } }, apiKey: keys.cut },
        {
          name: 'openai-limited',
          spec: { type: 'openai', baseURL: `${fake.url}/v1`, headers: { 'x-fake-status': '429' } },
          apiKey: keys.openaiLimited,
        },
        { name: 'openai-unreachable', spec: { type: 'openai', baseURL: `http://127.0.0.1:${closedPort}/v1` }, apiKey: 'sk-oai-none' },
        { name: 'openai-backup', spec: { type: 'openai-compatible', baseURL: `${fake.url}/v1` }, apiKey: keys.openaiBackup },
      ],
      models: [
        {
          name: 'sonnet',
          spec: {
            name: 'claude-sonnet-5',
            providerRef: { name: 'overloaded' },
            upstreamModel: 'claude-sonnet-5',
            pricing,
            fallbacks: [
              { providerRef: { name: 'unreachable' } },
              { providerRef: { name: 'backup' }, upstreamModel: 'claude-sonnet-5-backup' },
            ],
          },
        },
        {
          name: 'failing-twice',
          spec: {
            name: 'claude-failing',
            providerRef: { name: 'failing' },
            upstreamModel: 'claude-failing',
            pricing,
            fallbacks: [{ providerRef: { name: 'overloaded' } }],
          },
        },
        {
          name: 'cut-stream',
          spec: {
            name: 'claude-cut',
            providerRef: { name: 'cut' },
            upstreamModel: 'claude-cut',
            pricing,
            fallbacks: [{ providerRef: { name: 'backup' } }],
          },
        },
        {
          name: 'slow',
          spec: {
            name: 'claude-slow',
            providerRef: { name: 'silent' },
            upstreamModel: 'claude-slow',
            pricing,
            fallbacks: [{ providerRef: { name: 'backup' } }],
          },
        },
        {
          name: 'gpt',
          spec: {
            name: 'gpt-5',
            providerRef: { name: 'openai-limited' },
            upstreamModel: 'gpt-5-2025-08-07',
            pricing,
            fallbacks: [{ providerRef: { name: 'openai-unreachable' } }, { providerRef: { name: 'openai-backup' } }],
          },
        },
        {
          name: 'gpt-ws',
          spec: {
            name: 'gpt-ws',
            providerRef: { name: 'openai-unreachable' },
            upstreamModel: 'gpt-ws-upstream',
            pricing,
            fallbacks: [{ providerRef: { name: 'openai-backup' }, upstreamModel: 'gpt-ws-backup' }],
          },
        },
      ],
      budgets: [{ name: 'everyone', spec: { subject: { kind: 'global' }, amountUSD: '100', period: 'day' } }],
    }),
    user: { email: 'dev@example.com' },
  });
});
afterAll(async () => {
  await fx?.close();
  silent?.closeAllConnections();
  await new Promise<void>((resolve) => (silent ? silent.close(() => resolve()) : resolve()));
});

const usageRow = z.object({ attempt: z.number(), provider: z.string(), status: z.number(), outcome: z.string(), cost: z.string() });

async function rowsOf(requestId: string, count: number): Promise<z.infer<typeof usageRow>[]> {
  for (let i = 0; i < 100; i++) {
    const rows = await fx.pool.any(sql.type(usageRow)`
      select attempt, provider, status, outcome, cost_usd::text as cost from usage where request_id = ${requestId} order by attempt`);
    if (rows.length >= count) return [...rows];
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`usage rows for ${requestId} did not arrive`);
}

/** Which provider each request to the fake provider came from, by the key the gateway sent. */
const keysSeen = () =>
  fx.fake.requests.map((r) => (r.headers['x-api-key'] as string | undefined) ?? String(r.headers.authorization).replace('Bearer ', ''));

const anthropic = (model: string, extra: Record<string, unknown> = {}) =>
  fetch(`${fx.base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': fx.key, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }], ...extra }),
  });

describe('fallbacks', () => {
  it('moves past an overloaded (529) and an unreachable provider before the first byte, non-streaming', async () => {
    fx.fake.requests.length = 0;
    const res = await anthropic('claude-sonnet-5');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { content: { text: string }[] }).content[0]!.text).toContain('Hello');
    expect(keysSeen()).toEqual([keys.overloaded, keys.backup]);
    // The fallback's own upstream model.
    expect((fx.fake.requests[1]!.json as { model: string }).model).toBe('claude-sonnet-5-backup');
    const rows = await rowsOf(res.headers.get('x-codevector-request-id')!, 3);
    expect(rows.map(({ attempt, provider, status, outcome }) => ({ attempt, provider, status, outcome }))).toEqual([
      { attempt: 1, provider: 'default/overloaded', status: 529, outcome: 'fallback' },
      { attempt: 2, provider: 'default/unreachable', status: 502, outcome: 'fallback' },
      { attempt: 3, provider: 'default/backup', status: 200, outcome: 'ok' },
    ]);
    // Failed attempts cost nothing; the one that answered is billed at the Model's prices.
    expect(rows.slice(0, 2).map((r) => Number(r.cost))).toEqual([0, 0]);
    expect(Number(rows[2]!.cost)).toBeGreaterThan(0);
  });

  it('streams the fallback’s answer byte-faithfully after a 500, with its SSE event lines', async () => {
    fx.fake.requests.length = 0;
    const res = await fetch(`${fx.base}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': fx.key, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-failing', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    // failing (500) → overloaded (529), the last: its answer is the client's, untouched.
    expect(res.status).toBe(529);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('overloaded_error');
    expect(keysSeen()).toEqual([keys.failing, keys.overloaded]);
    const rows = await rowsOf(res.headers.get('x-codevector-request-id')!, 2);
    expect(rows.map((r) => [r.attempt, r.status, r.outcome])).toEqual([
      [1, 500, 'fallback'],
      [2, 529, 'upstream_error'],
    ]);

    fx.fake.requests.length = 0;
    const ok = await anthropic('claude-sonnet-5', { stream: true });
    expect(ok.status).toBe(200);
    const text = await ok.text();
    expect(text).toContain('event: message_start');
    expect(text).toContain('event: message_stop');
    expect(keysSeen()).toEqual([keys.overloaded, keys.backup]);
    const streamed = await rowsOf(ok.headers.get('x-codevector-request-id')!, 3);
    expect(streamed[2]).toMatchObject({ attempt: 3, provider: 'default/backup', status: 200, outcome: 'ok' });
    expect(Number(streamed[2]!.cost)).toBeGreaterThan(0);
  });

  it('never retries once the first byte reached the client: a stream cut mid-way stays cut', async () => {
    fx.fake.requests.length = 0;
    const res = await anthropic('claude-cut', { stream: true });
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
    expect(keysSeen()).toEqual([keys.cut]);
    const rows = await rowsOf(res.headers.get('x-codevector-request-id')!, 1);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ attempt: 1, provider: 'default/cut' });
  });

  it('moves on when an upstream accepts the connection but never answers (headers timeout)', async () => {
    fx.fake.requests.length = 0;
    const res = await anthropic('claude-slow');
    expect(res.status).toBe(200);
    expect(keysSeen()).toEqual([keys.backup]);
    const rows = await rowsOf(res.headers.get('x-codevector-request-id')!, 2);
    expect(rows.map((r) => [r.attempt, r.provider, r.outcome])).toEqual([
      [1, 'default/silent', 'fallback'],
      [2, 'default/backup', 'ok'],
    ]);
  });

  it('falls back on the OpenAI wire too (429, then connection refused), streaming and not', async () => {
    fx.fake.requests.length = 0;
    const chat = await fetch(`${fx.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${fx.key}` },
      body: JSON.stringify({ model: 'gpt-5', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(chat.status).toBe(200);
    const stream = await chat.text();
    expect(stream).toContain('data: [DONE]');
    // The gateway asked the fallback for usage as it asked the first: the client, which did
    // not, still gets no usage chunk.
    expect(stream).not.toContain('"usage":{');
    expect(keysSeen()).toEqual([keys.openaiLimited, keys.openaiBackup]);
    for (const request of fx.fake.requests) {
      expect(request.json).toMatchObject({ model: 'gpt-5-2025-08-07', stream_options: { include_usage: true } });
    }
    const rows = await rowsOf(chat.headers.get('x-codevector-request-id')!, 3);
    expect(rows.map((r) => [r.attempt, r.provider, r.status, r.outcome])).toEqual([
      [1, 'default/openai-limited', 429, 'fallback'],
      [2, 'default/openai-unreachable', 502, 'fallback'],
      [3, 'default/openai-backup', 200, 'ok'],
    ]);
    expect(Number(rows[2]!.cost)).toBeGreaterThan(0);

    fx.fake.requests.length = 0;
    const responses = await fetch(`${fx.base}/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${fx.key}` },
      body: JSON.stringify({ model: 'gpt-5', input: 'hi' }),
    });
    expect(responses.status).toBe(200);
    expect(((await responses.json()) as { status: string }).status).toBe('completed');
    expect(keysSeen()).toEqual([keys.openaiLimited, keys.openaiBackup]);
  });

  it('opens the Responses WebSocket on the first upstream that answers, and relays every turn there', async () => {
    fx.fake.websocketMessages.length = 0;
    const socket = new WebSocket(`ws://127.0.0.1:${fx.gateway.port}/v1/responses`, { headers: { authorization: `Bearer ${fx.key}` } });
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const turn = () =>
      new Promise<Record<string, unknown>[]>((resolve) => {
        const events: Record<string, unknown>[] = [];
        const onMessage = (data: WebSocket.RawData) => {
          const event = JSON.parse(String(data)) as Record<string, unknown>;
          events.push(event);
          if (event['type'] === 'response.completed' || event['type'] === 'error') {
            socket.off('message', onMessage);
            resolve(events);
          }
        };
        socket.on('message', onMessage);
      });
    for (let i = 0; i < 2; i++) {
      const done = turn();
      socket.send(JSON.stringify({ type: 'response.create', model: 'gpt-ws', input: [{ role: 'user', content: 'hi' }] }));
      expect((await done).at(-1)).toMatchObject({ type: 'response.completed' });
    }
    socket.close();
    expect(fx.fake.websocketMessages.map((m) => (m as { model: string }).model)).toEqual(['gpt-ws-backup', 'gpt-ws-backup']);
    const rows = await (async () => {
      for (let i = 0; i < 100; i++) {
        const found = await fx.pool.any(sql.type(usageRow)`
          select attempt, provider, status, outcome, cost_usd::text as cost from usage where model = 'gpt-ws' order by id`);
        if (found.length >= 3) return found;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('usage rows did not arrive');
    })();
    expect(rows.map((r) => [r.attempt, r.provider, r.outcome])).toEqual([
      [1, 'default/openai-unreachable', 'fallback'],
      [2, 'default/openai-backup', 'ok'],
      [1, 'default/openai-backup', 'ok'],
    ]);
  });

  it('counts each failed attempt in the metrics, by model, provider and status', async () => {
    const text = await (await fetch(`http://127.0.0.1:${fx.gateway.metricsPort}/metrics`)).text();
    expect(text).toMatch(
      /codevector_gateway_upstream_fallbacks_total\{model="claude-sonnet-5",provider="default\/overloaded",status="529"\} [1-9]/,
    );
    expect(text).toMatch(
      /codevector_gateway_upstream_fallbacks_total\{model="gpt-5",provider="default\/openai-unreachable",status="0"\} [1-9]/,
    );
  });

  it('settles the budget once per request, with what the answering attempt cost', async () => {
    const money = z.object({ s: z.string() });
    const billed = async () => Number(await fx.pool.oneFirst(sql.type(money)`select coalesce(sum(cost_usd), 0)::text as s from usage`));
    const spent = async () =>
      Number(await fx.pool.oneFirst(sql.type(money)`select coalesce(sum(spent_usd), 0)::text as s from budget_windows`));
    // The replica pushes its spend every 100 ms; wait for it to match what the usage rows billed.
    let last = -1;
    for (let i = 0; i < 100 && last !== (await billed()); i++) {
      last = await spent();
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await billed()).toBeGreaterThan(0);
    expect(last).toBe(await billed());
    const failed = Number(
      await fx.pool.oneFirst(sql.type(money)`select coalesce(sum(cost_usd), 0)::text as s from usage where outcome = 'fallback'`),
    );
    expect(failed).toBe(0);
  });
});
