import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { sql, statement } from '@codevector/core/create-pool';
import { waitFor } from '@codevector/testbed/wait-for';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { z } from 'zod';
import { fakeProviders, type GatewayFixture, sonnetModel, startGatewayFixture, upstreamKeys } from './testing/gateway-fixture.ts';

let fx: GatewayFixture;

const anyRow = z.record(z.string(), z.unknown());

async function auditRows(action: string) {
  return fx.pool.any(sql.type(anyRow)`select * from audit_log where action = ${action} order by id`);
}

beforeAll(async () => {
  fx = await startGatewayFixture({
    config: (fake) => ({
      providers: fakeProviders(fake, { timeoutSeconds: 5 }),
      models: [
        sonnetModel,
        {
          name: 'gpt',
          spec: {
            name: 'gpt-5',
            aliases: ['gpt-latest'],
            providerRef: { name: 'openai' },
            upstreamModel: 'gpt-5-2026',
            pricing: { input: 1.25, output: 10, cacheRead: 0.125 },
          },
        },
      ],
      secretRules: [
        {
          name: 'builtin',
          spec: { detectors: ['all'], patterns: [{ name: 'acme-token', regex: 'acme_[a-f0-9]{32}', keywords: ['acme_'] }] },
        },
      ],
    }),
    user: { email: 'dev@example.com', groups: ['platform'] },
    env: { KEY_CACHE_TTL_MS: '500' },
  });
});

afterAll(async () => {
  await fx?.close();
});

const anthropicBody = (extra: Record<string, unknown> = {}) => ({
  model: 'claude-sonnet-5',
  max_tokens: 1024,
  system: [{ type: 'text', text: 'Be brief.' }],
  messages: [
    { role: 'user', content: 'Hello' },
    { role: 'system', content: 'mid-conversation system note' },
  ],
  ...extra,
});

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${fx.base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': fx.key, ...headers },
    body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
}

describe('forwarding', () => {
  it('forwards an Anthropic request byte for byte, swapping only the key, and records usage', async () => {
    fx.fake.requests.length = 0;
    const text = JSON.stringify(anthropicBody());
    const res = await post('/v1/messages?beta=true', text, {
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14',
      'x-fake-cache-read-tokens': '100',
      'x-fake-cache-write-tokens': '50',
      'x-claude-code-session-id': 'sess-1',
    });
    expect(res.status).toBe(200);
    const json = (await res.json()) as { content: { text: string }[] };
    expect(json.content[0]!.text).toBe('Hello from the fake provider.');
    const seen = fx.fake.requests[0]!;
    expect(seen.url).toBe('/v1/messages?beta=true');
    expect(seen.body.toString()).toBe(text);
    expect(seen.headers['x-api-key']).toBe(upstreamKeys.anthropic);
    expect(seen.headers['anthropic-version']).toBe('2023-06-01');
    expect(seen.headers['anthropic-beta']).toBe('claude-code-20250219,interleaved-thinking-2025-05-14');
    const row = await waitFor(() => fx.pool.maybeOne(sql.type(anyRow)`select * from usage where session_id = 'sess-1'`));
    expect(row).toMatchObject({
      model: 'claude-sonnet-5',
      provider: 'default/anthropic',
      status: 200,
      outcome: 'ok',
      cache_read_tokens: 100,
      cache_write_tokens: 50,
      api_key_id: fx.keyId,
    });
    expect(Number(row['cost_usd'])).toBeGreaterThan(0);
  });

  it('passes an Anthropic SSE stream through unchanged, event lines included', async () => {
    const res = await post('/v1/messages', anthropicBody({ stream: true }));
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text();
    expect(text.startsWith('event: message_start\ndata: {"type":"message_start"')).toBe(true);
    expect(text).toContain('event: ping\ndata: {"type": "ping"}\n\n');
    expect(text.endsWith('event: message_stop\ndata: {"type":"message_stop"}\n\n')).toBe(true);
  });

  it('decodes gzip bodies for policies and forwards them as sent', async () => {
    fx.fake.requests.length = 0;
    const gz = gzipSync(JSON.stringify(anthropicBody()));
    const res = await post('/v1/messages', gz, { 'content-encoding': 'gzip' });
    expect(res.status).toBe(200);
    expect(fx.fake.requests[0]!.headers['content-encoding']).toBe('gzip');
    expect(Buffer.compare(fx.fake.requests[0]!.body, gz)).toBe(0);
  });

  it('asks OpenAI for stream usage and strips it so the client sees the stream it asked for', async () => {
    fx.fake.requests.length = 0;
    const res = await post(
      '/v1/chat/completions',
      { model: 'gpt-latest', stream: true, messages: [{ role: 'user', content: 'hi' }] },
      { authorization: `Bearer ${fx.key}`, 'x-api-key': '' },
    );
    const text = await res.text();
    expect(text).not.toContain('"usage"');
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    const sent = fx.fake.requests[0]!.json as Record<string, unknown>;
    expect(sent['stream_options']).toEqual({ include_usage: true });
    expect(sent['model']).toBe('gpt-5-2026');
    expect(fx.fake.requests[0]!.headers.authorization).toBe(`Bearer ${upstreamKeys.openai}`);
    const row = await waitFor(() =>
      fx.pool.maybeOne(sql.type(anyRow)`select * from usage where endpoint = 'chat.completions' and output_tokens > 0`),
    );
    expect(row).toMatchObject({ model: 'gpt-5', status: 200 });
  });

  it('routes Responses-style input on /v1/chat/completions to the upstream Responses API', async () => {
    fx.fake.requests.length = 0;
    const res = await post('/v1/chat/completions', { model: 'gpt-5', input: [{ role: 'user', content: 'hi' }] });
    expect(res.status).toBe(200);
    expect(fx.fake.requests[0]!.url).toBe('/v1/responses');
    expect(((await res.json()) as { object: string }).object).toBe('response');
  });

  it('passes upstream errors through in their own shape with retry-after', async () => {
    const res = await post('/v1/messages', anthropicBody(), { 'x-fake-status': '529' });
    expect(res.status).toBe(529);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toEqual({ type: 'error', error: { type: 'overloaded_error', message: 'fake provider error 529' } });
  });

  it('cancels the upstream request when the client goes away', async () => {
    const controller = new AbortController();
    const pending = post('/v1/messages', anthropicBody({ stream: true }), { 'x-fake-latency-ms': '2000' });
    void pending;
    const res = fetch(`${fx.base}/v1/messages`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-api-key': fx.key,
        'x-fake-latency-ms': '3000',
        'x-claude-code-session-id': 'abort-1',
      },
      body: JSON.stringify(anthropicBody()),
      signal: controller.signal,
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    controller.abort();
    await expect(res).rejects.toThrow();
    const row = await waitFor(() => fx.pool.maybeOne(sql.type(anyRow)`select * from usage where session_id = 'abort-1'`));
    expect(row['outcome']).toBe('client_aborted');
  });

  it('forwards count_tokens without metering it', async () => {
    const res = await post('/v1/messages/count_tokens', {
      model: 'claude-sonnet-5',
      messages: [{ role: 'user', content: 'count me please' }],
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { input_tokens: number }).input_tokens).toBeGreaterThan(0);
  });

  it('answers 504 in the caller shape when the provider exceeds its timeout', async () => {
    await fx.seedConfig({
      providers: [{ name: 'slow', spec: { type: 'anthropic', baseURL: fx.fake.url, timeoutSeconds: 1 }, apiKey: 'sk-slow' }],
      models: [
        {
          name: 'slow',
          spec: { name: 'claude-slow', providerRef: { name: 'slow' }, upstreamModel: 'claude-slow', pricing: { input: 1, output: 1 } },
        },
      ],
    });
    await waitFor(async () => (await post('/v1/messages', anthropicBody({ model: 'claude-slow' }))).status === 200);
    const started = Date.now();
    const res = await post('/v1/messages', anthropicBody({ model: 'claude-slow' }), { 'x-fake-latency-ms': '2000' });
    expect(res.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'api_error' } });
  });

  it('lists configured models in the Anthropic shape for Anthropic clients', async () => {
    const res = await fetch(`${fx.base}/v1/models`, { headers: { 'x-api-key': fx.key, 'anthropic-version': '2023-06-01' } });
    const json = (await res.json()) as { data: { type: string; id: string }[]; has_more: boolean };
    expect(json.has_more).toBe(false);
    expect(json.data[0]).toMatchObject({ type: 'model' });
  });

  it('lists configured models in the OpenAI shape', async () => {
    const res = await fetch(`${fx.base}/v1/models`, { headers: { authorization: `Bearer ${fx.key}` } });
    const json = (await res.json()) as { data: { id: string }[] };
    expect(json.data.map((m) => m.id)).toEqual(expect.arrayContaining(['claude-sonnet-5', 'gpt-5', 'gpt-latest']));
  });
});

describe('refusals', () => {
  it('refuses a missing or unknown key in the caller shape', async () => {
    const res = await fetch(`${fx.base}/v1/messages`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('authentication_error');
    const openai = await post('/v1/chat/completions', {}, { 'x-api-key': 'cvk_nope' });
    expect(await openai.json()).toMatchObject({ error: { type: 'authentication_error', code: 'invalid_api_key' } });
  });

  it('answers an unknown model with 404 and a durable gateway.model_not_found event', async () => {
    const res = await post('/v1/messages', anthropicBody({ model: 'claude-nope' }));
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    const requestId = res.headers.get('x-codevector-request-id');
    const rows = await auditRows('gateway.model_not_found');
    expect(rows.find((r) => r['request_id'] === requestId)).toMatchObject({
      actor: 'dev@example.com',
      actor_source: 'gateway',
      target_name: 'claude-nope',
    });
  });

  it('blocks a secret, names the rule and where, never the value', async () => {
    const secret = `acme_${randomBytes(16).toString('hex')}`;
    const body = anthropicBody({
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'see' },
            { type: 'tool_result', tool_use_id: 't1', content: `TOKEN=${secret}` },
          ],
        },
      ],
    });
    const res = await post('/v1/messages', body);
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text).not.toContain(secret);
    expect(JSON.parse(text)).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(text).toContain('acme-token');
    expect(text).toContain('messages[2].content[1].content');
    const row = (await auditRows('gateway.secret_blocked')).at(-1)!;
    expect(row['detail']).toMatchObject({ rule: 'acme-token', location: 'messages[2].content[1].content', secretRule: 'default/builtin' });
    expect(JSON.stringify(row)).not.toContain(secret);
  });

  it('rate limits per user with 429, retry-after and x-ratelimit headers', async () => {
    await fx.seedConfig({
      rateLimits: [{ name: 'rpm', spec: { subject: { kind: 'eachUser' }, requestsPerMinute: 3, models: ['gpt-5'] } }],
    });
    const limited = await fx.seedUser({ email: 'busy@example.com', keyName: 'busy' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await post(
        '/v1/chat/completions',
        { model: 'gpt-5', messages: [{ role: 'user', content: 'x' }] },
        { 'x-api-key': limited.key },
      );
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(last!.headers.get('x-ratelimit-limit-requests')).toBe('3');
    expect(await last!.json()).toMatchObject({ error: { code: 'rate_limit_exceeded' } });
    // Another user has their own window; another model is not covered.
    expect((await post('/v1/chat/completions', { model: 'gpt-5', messages: [{ role: 'user', content: 'x' }] })).status).toBe(200);
    expect((await post('/v1/messages', anthropicBody(), { 'x-api-key': limited.key })).status).toBe(200);
    expect((await auditRows('gateway.rate_limit_exceeded')).length).toBe(2);
  });

  it('limits tokens per minute on what was consumed, across the window', async () => {
    const heavy = await fx.seedUser({ email: 'heavy@example.com', keyName: 'heavy' });
    await fx.seedConfig({
      rateLimits: [{ name: 'tpm', spec: { subject: { kind: 'apiKey', name: 'heavy' }, tokensPerMinute: 500 } }],
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const first = await post('/v1/messages', anthropicBody(), { 'x-api-key': heavy.key, 'x-fake-output-tokens': '600' });
    expect(first.status).toBe(200);
    const second = await post('/v1/messages', anthropicBody(), { 'x-api-key': heavy.key });
    expect(second.status).toBe(429);
    expect(second.headers.get('x-ratelimit-limit-tokens')).toBe('500');
    expect(((await second.json()) as { error: { type: string } }).error.type).toBe('rate_limit_error');
  });

  it('refuses a request once a budget is spent, with 402, which budget and when it resets', async () => {
    const spender = await fx.seedUser({ email: 'spender@example.com', keyName: 'spender', groups: ['interns'] });
    await fx.seedConfig({
      budgets: [{ name: 'interns-daily', spec: { subject: { kind: 'group', name: 'interns' }, amountUSD: '0.2', period: 'day' } }],
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    let res: Response | undefined;
    for (let i = 0; i < 20; i++) {
      res = await post('/v1/messages', anthropicBody(), { 'x-api-key': spender.key, 'x-fake-output-tokens': '2000' });
      if (res.status !== 200) break;
    }
    expect(res!.status).toBe(402);
    const json = (await res!.json()) as { error: { type: string; message: string } };
    expect(json.error.type).toBe('billing_error');
    expect(json.error.message).toContain('default/interns-daily');
    expect(json.error.message).toMatch(/resets at \d{4}-\d\d-\d\dT00:00:00.000Z/);
    expect((await auditRows('gateway.budget_exceeded')).at(-1)).toMatchObject({
      actor: 'spender@example.com',
      target_name: 'default/interns-daily',
    });
    // Spend is visible for Budget status once replicas push it (every 100 ms).
    await new Promise((resolve) => setTimeout(resolve, 400));
    const spent = await fx.pool.one(sql.type(anyRow)`select spent_usd from budget_windows where subject = 'group:interns'`);
    expect(Number(spent['spent_usd'])).toBeGreaterThan(0.1);
    expect(Number(spent['spent_usd'])).toBeLessThanOrEqual(0.2);
  });
});

describe('observe-mode budgets', () => {
  it('admits past the amount, records the spend, and writes no budget_exceeded event', async () => {
    const watched = await fx.seedUser({ email: 'watched@example.com', keyName: 'watched', groups: ['contractors'] });
    await fx.seedConfig({
      budgets: [
        {
          name: 'contractors-watch',
          spec: { subject: { kind: 'group', name: 'contractors' }, amountUSD: '0.05', period: 'month', mode: 'observe' },
        },
      ],
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = (await auditRows('gateway.budget_exceeded')).length;
    // Each answer costs ~$0.015 (max_tokens 1024 of output at $15/M): eight are ~2.5× the amount.
    for (let i = 0; i < 8; i++) {
      const res = await post('/v1/messages', anthropicBody(), { 'x-api-key': watched.key, 'x-fake-output-tokens': '2000' });
      expect(res.status).toBe(200);
    }
    // All eight rows (usage is written in batches: a partial sum would never match the window).
    const charged = await waitFor(async () => {
      const row = await fx.pool.one(sql.type(z.object({ n: z.number(), total: z.number() }))`
        select count(*)::int as n, coalesce(sum(cost_usd), 0)::float8 as total from usage where api_key_id = ${watched.keyId}`);
      return row.n === 8 && row.total > 0.1 ? row.total : null;
    });
    // The window records every dollar, past the amount, and holds no lease (observe never leases).
    const spent = await waitFor(async () => {
      const row = await fx.pool.maybeOne(
        sql.type(anyRow)`select spent_usd, leased_usd from budget_windows where subject = 'group:contractors'`,
      );
      return row && Math.abs(Number(row['spent_usd']) - charged) < 1e-9 ? row : null;
    });
    expect(Number(spent['leased_usd'])).toBe(0);
    // Observing is not refusing: the audit log's budget_exceeded rows stay refusals only.
    expect((await auditRows('gateway.budget_exceeded')).length).toBe(before);
  });
});

describe('hot config and keys', () => {
  it('enforces a config change within a second and keeps the last good snapshot on a bad one', async () => {
    await fx.seedConfig({
      models: [
        {
          name: 'haiku',
          spec: {
            name: 'claude-haiku-5',
            providerRef: { name: 'anthropic' },
            upstreamModel: 'claude-haiku-5',
            pricing: { input: 1, output: 5 },
          },
        },
      ],
    });
    const started = Date.now();
    await waitFor(async () => (await post('/v1/messages', anthropicBody({ model: 'claude-haiku-5' }))).status === 200, 1000);
    expect(Date.now() - started).toBeLessThan(1000);
    // A bad snapshot (negative price) is refused; haiku keeps working.
    await fx.seedConfig({
      models: [
        {
          name: 'broken',
          spec: { name: 'broken', providerRef: { name: 'anthropic' }, upstreamModel: 'x', pricing: { input: -1, output: 1 } },
        },
      ],
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await post('/v1/messages', anthropicBody({ model: 'claude-haiku-5' }))).status).toBe(200);
    expect((await post('/v1/messages', anthropicBody({ model: 'broken' }))).status).toBe(404);
    await fx.seedConfig({ delete: [{ table: 'models', name: 'broken' }] });
  });

  it('stops accepting a revoked key within about a second', async () => {
    const victim = await fx.seedUser({ email: 'leaver@example.com', keyName: 'leaver' });
    expect((await post('/v1/messages', anthropicBody(), { 'x-api-key': victim.key })).status).toBe(200);
    await fx.pool.query(statement`update api_keys set revoked_at = now() where id = ${victim.keyId}`);
    const revokedAt = Date.now();
    await waitFor(async () => (await post('/v1/messages', anthropicBody(), { 'x-api-key': victim.key })).status === 401, 2000);
    expect(Date.now() - revokedAt).toBeLessThan(1200);
  });
});

describe('Responses WebSocket mode (what Codex tries first)', () => {
  function openSocket(token: string): Promise<WebSocket> {
    const socket = new WebSocket(`ws://127.0.0.1:${fx.gateway.port}/v1/responses`, {
      headers: { authorization: `Bearer ${token}`, 'openai-beta': 'responses_websockets=2026-02-04' },
    });
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(socket));
      socket.once('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)));
      socket.once('error', reject);
    });
  }
  function nextDone(socket: WebSocket): Promise<Record<string, unknown>[]> {
    const events: Record<string, unknown>[] = [];
    return new Promise((resolve) => {
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
  }

  it('relays a warm-up and a turn through policies to the provider WebSocket', async () => {
    fx.fake.websocketMessages.length = 0;
    const socket = await openSocket(fx.key);
    const warm = nextDone(socket);
    socket.send(JSON.stringify({ type: 'response.create', model: 'gpt-5', generate: false, input: [], store: false }));
    const warmEvents = await warm;
    const warmId = (warmEvents.at(-1)!['response'] as { id: string }).id;
    const turn = nextDone(socket);
    socket.send(
      JSON.stringify({ type: 'response.create', model: 'gpt-5', previous_response_id: warmId, input: [{ role: 'user', content: 'hi' }] }),
    );
    const events = await turn;
    expect(events.map((e) => e['type'])).toContain('response.output_text.delta');
    expect(fx.fake.websocketMessages).toHaveLength(2);
    expect((fx.fake.websocketMessages[1] as Record<string, unknown>)['model']).toBe('gpt-5-2026');
    // A secret in a later turn is refused on the open socket and never reaches the provider.
    const refused = nextDone(socket);
    socket.send(JSON.stringify({ type: 'response.create', model: 'gpt-5', input: [{ role: 'user', content: `acme_${'ab'.repeat(16)}` }] }));
    const error = (await refused).at(-1)!;
    expect(error).toMatchObject({ type: 'error', status: 400, error: { code: 'secret_blocked' } });
    expect(fx.fake.websocketMessages).toHaveLength(2);
    socket.close();
    const row = await waitFor(() =>
      fx.pool.maybeOne(sql.type(anyRow)`select * from usage where endpoint = 'responses.websocket' and output_tokens > 0`),
    );
    expect(row).toMatchObject({ model: 'gpt-5', status: 200, outcome: 'ok' });
  });

  it('refuses the upgrade without a valid key', async () => {
    await expect(openSocket('cvk_wrong')).rejects.toThrow(/401/);
  });

  it('words a refusal the same on HTTP and on the WebSocket, with the same status and retry hints', async () => {
    const upgrade = (headers: Record<string, string>) =>
      new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
        const socket = new WebSocket(`ws://127.0.0.1:${fx.gateway.port}/v1/responses`, { headers });
        socket.once('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => {
            body += chunk.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        socket.once('open', () => reject(new Error('upgraded')));
      });
    const http = (headers: Record<string, string>, model = 'gpt-5') =>
      fetch(`${fx.base}/v1/responses`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ model, input: 'hi' }),
      });
    for (const client of [{}, { originator: 'codex_exec' }] as Record<string, string>[]) {
      const bad = { authorization: 'Bearer cvk_wrong', ...client };
      const overHttp = await http(bad);
      const overSocket = await upgrade(bad);
      expect(overSocket.status).toBe(overHttp.status);
      expect(overSocket.body).toBe(await overHttp.text());
      expect(overSocket.headers['x-should-retry']).toBe('false');
      expect(overHttp.headers.get('x-should-retry')).toBe('false');
    }
    // Codex stops at once only on a 400; other clients get the 401 the SDKs expect.
    expect((await http({ authorization: 'Bearer cvk_wrong', originator: 'codex_exec' })).status).toBe(400);
    expect((await http({ authorization: 'Bearer cvk_wrong' })).status).toBe(401);

    // An unknown model: the HTTP message is the socket's error event message.
    const overHttp = (await (await http({ authorization: `Bearer ${fx.key}` }, 'nope-model')).json()) as { error: { message: string } };
    const socket = await openSocket(fx.key);
    const refused = nextDone(socket);
    socket.send(JSON.stringify({ type: 'response.create', model: 'nope-model', input: [] }));
    const event = (await refused).at(-1)!;
    socket.close();
    expect(event).toMatchObject({ type: 'error', status: 404, error: { code: 'model_not_found', message: overHttp.error.message } });
  });
});
