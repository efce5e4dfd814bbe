import Anthropic from '@anthropic-ai/sdk';
import { sql } from '@codevector/core/create-pool';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { z } from 'zod';
import { type GatewayFixture, startGatewayFixture, upstreamKeys } from './testing/gateway-fixture.ts';

// Translation between the Anthropic and OpenAI APIs (ADR 0124) through the real gateway, real
// HTTP and PostgreSQL, with the official SDKs as clients and the fake provider speaking each
// API's exact wire format upstream: what the provider received, what the client got, and what
// was billed (from the upstream's own usage fields).
let fx: GatewayFixture;
const pricing = { input: 3, output: 15 };

beforeAll(async () => {
  fx = await startGatewayFixture({
    config: (fake) => ({
      providers: [
        { name: 'anthropic', spec: { type: 'anthropic', baseURL: fake.url }, apiKey: upstreamKeys.anthropic },
        { name: 'compatible', spec: { type: 'openai-compatible', baseURL: `${fake.url}/v1` }, apiKey: 'sk-vllm' },
        { name: 'openai', spec: { type: 'openai', baseURL: `${fake.url}/v1` }, apiKey: upstreamKeys.openai },
        {
          name: 'compatible-limited',
          spec: { type: 'openai-compatible', baseURL: `${fake.url}/v1`, headers: { 'x-fake-status': '429' } },
          apiKey: 'sk-limited',
        },
        {
          name: 'compatible-garbage',
          spec: { type: 'openai-compatible', baseURL: `${fake.url}/v1`, headers: { 'x-fake-fault': 'garbage' } },
          apiKey: 'sk-garbage',
        },
        {
          name: 'anthropic-overloaded',
          spec: { type: 'anthropic', baseURL: fake.url, headers: { 'x-fake-status': '529' } },
          apiKey: 'sk-ant-overloaded',
        },
      ],
      models: [
        {
          name: 'claude-on-openai',
          spec: { name: 'claude-on-openai', providerRef: { name: 'compatible' }, upstreamModel: 'qwen3-coder', pricing },
        },
        {
          name: 'claude-on-gpt',
          spec: { name: 'claude-on-gpt', providerRef: { name: 'openai' }, upstreamModel: 'gpt-5-upstream', pricing },
        },
        {
          name: 'gpt-on-anthropic',
          spec: { name: 'gpt-on-anthropic', providerRef: { name: 'anthropic' }, upstreamModel: 'claude-opus-upstream', pricing },
        },
        {
          name: 'limited',
          spec: { name: 'claude-limited', providerRef: { name: 'compatible-limited' }, upstreamModel: 'qwen-limited', pricing },
        },
        {
          name: 'overloaded',
          spec: { name: 'gpt-overloaded', providerRef: { name: 'anthropic-overloaded' }, upstreamModel: 'claude-x', pricing },
        },
        {
          name: 'garbage',
          spec: { name: 'claude-garbage', providerRef: { name: 'compatible-garbage' }, upstreamModel: 'qwen-garbage', pricing },
        },
      ],
      secretRules: [
        { name: 'builtin', spec: { detectors: ['all'] } },
        {
          name: 'tickets-redact',
          spec: { patterns: [{ name: 'acme-token', regex: 'acme_[a-f0-9]{32}', keywords: ['acme_'] }], action: 'redact' },
        },
      ],
    }),
    user: { email: 'dev@example.com' },
  });
});
afterAll(async () => {
  await fx?.close();
});

const usageRow = z.object({
  endpoint: z.string(),
  provider: z.string(),
  model: z.string(),
  input_tokens: z.number(),
  output_tokens: z.number(),
  cache_read_tokens: z.number(),
  cost: z.string(),
  outcome: z.string(),
});
async function usageOf(requestId: string) {
  for (let i = 0; i < 100; i++) {
    const row = await fx.pool.maybeOne(sql.type(usageRow)`
      select endpoint, provider, model, input_tokens, output_tokens, cache_read_tokens, cost_usd::text as cost, outcome
      from usage where request_id = ${requestId}`);
    if (row) return row;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no usage row for ${requestId}`);
}

type Json = Record<string, unknown>;
const upstreamBodies = (model: string) =>
  fx.fake.requests.filter((r) => r.method === 'POST' && (r.json as Json | null)?.['model'] === model).map((r) => r.json as Json);
const anthropic = () => new Anthropic({ baseURL: fx.base, apiKey: fx.key, maxRetries: 0 });
const openai = () => new OpenAI({ baseURL: `${fx.base}/v1`, apiKey: fx.key, maxRetries: 0 });
const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

describe('Claude Code’s API (Anthropic Messages) on an OpenAI-wire Provider', () => {
  it('sends Chat Completions upstream and answers in Anthropic’s shape, billed from the upstream’s usage', async () => {
    fx.fake.requests.length = 0;
    const { data, response } = await anthropic()
      .messages.create({
        model: 'claude-on-openai',
        max_tokens: 1000,
        system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }],
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'hello' },
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
            ],
          },
        ],
      })
      .withResponse();
    expect(data).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'claude-on-openai',
      content: [{ type: 'text', text: 'Hello from the fake provider.' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: expect.any(Number), output_tokens: expect.any(Number) },
    });
    const [sent] = upstreamBodies('qwen3-coder');
    expect(fx.fake.requests[0]!.url).toBe('/v1/chat/completions');
    expect(fx.fake.requests[0]!.headers.authorization).toBe('Bearer sk-vllm');
    expect(sent).toEqual({
      model: 'qwen3-coder',
      max_tokens: 1000,
      messages: [
        { role: 'system', content: 'You are terse.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'hello' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
          ],
        },
      ],
    });
    const row = await usageOf(response.headers.get('x-codevector-request-id')!);
    expect(row).toMatchObject({ endpoint: 'messages', provider: 'default/compatible', model: 'claude-on-openai', outcome: 'ok' });
    expect(row.input_tokens).toBe(data.usage.input_tokens);
    expect(row.output_tokens).toBe(data.usage.output_tokens);
    expect(Number(row.cost)).toBeGreaterThan(0);
  });

  it('streams a parallel tool call round trip as Anthropic events, and sends the results back as tool messages', async () => {
    fx.fake.requests.length = 0;
    const tools = [
      {
        name: 'read_file',
        description: 'Read a file',
        input_schema: { type: 'object' as const, properties: { path: { type: 'string' } } },
      },
    ];
    const prompt = 'CALL_TOOL:read_file:{"path":"a.txt"}\nCALL_TOOL:read_file:{"path":"b.txt"}';
    const stream = anthropic().messages.stream({
      model: 'claude-on-gpt',
      max_tokens: 2000,
      tools,
      messages: [{ role: 'user', content: prompt }],
    });
    const types: string[] = [];
    stream.on('streamEvent', (event) => types.push(event.type));
    const first = await stream.finalMessage();
    expect(first.stop_reason).toBe('tool_use');
    const calls = first.content.filter((b) => b.type === 'tool_use');
    expect(calls.map((c) => c.input)).toEqual([{ path: 'a.txt' }, { path: 'b.txt' }]);
    expect(types[0]).toBe('message_start');
    expect(types.at(-2)).toBe('message_delta');
    expect(types.at(-1)).toBe('message_stop');
    expect(first.usage.output_tokens).toBeGreaterThan(0);
    // The OpenAI Provider gets max_completion_tokens and is asked for its usage chunk.
    expect(upstreamBodies('gpt-5-upstream')[0]).toMatchObject({
      max_completion_tokens: 2000,
      stream: true,
      stream_options: { include_usage: true },
      tools: [{ type: 'function', function: { name: 'read_file', parameters: tools[0]!.input_schema } }],
    });

    const second = await anthropic().messages.create({
      model: 'claude-on-gpt',
      max_tokens: 2000,
      tools,
      messages: [
        { role: 'user', content: prompt },
        { role: 'assistant', content: first.content },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: calls[0]!.id, content: 'alpha' },
            { type: 'tool_result', tool_use_id: calls[1]!.id, content: [{ type: 'text', text: 'beta' }] },
          ],
        },
      ],
    });
    expect(second.content).toEqual([{ type: 'text', text: 'The tool said: alpha | beta' }]);
    const sent = upstreamBodies('gpt-5-upstream')[1]!;
    expect((sent['messages'] as Json[]).slice(1)).toEqual([
      {
        role: 'assistant',
        // The Chat server said nothing besides its calls.
        content: null,
        tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: 'read_file', arguments: JSON.stringify(c.input) } })),
      },
      { role: 'tool', tool_call_id: calls[0]!.id, content: 'alpha' },
      { role: 'tool', tool_call_id: calls[1]!.id, content: 'beta' },
    ]);
  });

  it('maps an upstream error to Anthropic’s error shape with the upstream’s status', async () => {
    const res = await fetch(`${fx.base}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': fx.key, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-limited', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(429);
    expect(await res.json()).toEqual({ type: 'error', error: { type: 'rate_limit_error', message: 'fake provider error 429' } });
    expect(res.headers.get('retry-after')).toBe('1');
  });

  it('answers 502 in Anthropic’s shape when the upstream’s answer cannot be read', async () => {
    const res = await fetch(`${fx.base}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': fx.key },
      body: JSON.stringify({ model: 'claude-garbage', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({
      type: 'error',
      error: { type: 'api_error', message: expect.stringContaining('could not be read') },
    });
    const row = await usageOf(res.headers.get('x-codevector-request-id')!);
    // It reached the provider, which bills what it read: never $0.
    expect(row).toMatchObject({ outcome: 'upstream_error' });
    expect(Number(row.cost)).toBeGreaterThan(0);
  });

  it('estimates count_tokens for an OpenAI-wire Model, and says so', async () => {
    const res = await fetch(`${fx.base}/v1/messages/count_tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': fx.key, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-on-openai', messages: [{ role: 'user', content: 'hello world, how are you' }] }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-codevector-token-count')).toBe('estimated');
    expect(await res.json()).toEqual({ input_tokens: expect.any(Number), estimated: true });
    const counted = await anthropic().messages.countTokens({ model: 'claude-on-openai', messages: [{ role: 'user', content: 'hello' }] });
    expect(counted.input_tokens).toBeGreaterThan(0);
  });

  it('runs the secret scan on the client’s body: a blocked prompt never reaches the provider', async () => {
    fx.fake.requests.length = 0;
    const res = await fetch(`${fx.base}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': fx.key },
      body: JSON.stringify({
        model: 'claude-on-openai',
        max_tokens: 10,
        messages: [{ role: 'user', content: 'deploy with AKIA2OGYBAH6QWERT7XZ please' }],
      }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      type: 'error',
      error: { type: 'invalid_request_error', message: expect.stringContaining('secret') },
    });
    expect(fx.fake.requests).toHaveLength(0);
  });
});

describe('policies on the client’s body, whatever the upstream’s API', () => {
  it('a Redact rule’s placeholder is what gets translated: the secret reaches no provider', async () => {
    const secret = `acme_${'0123456789abcdef'.repeat(2)}`;
    fx.fake.requests.length = 0;
    const completion = await openai().chat.completions.create({
      model: 'gpt-on-anthropic',
      messages: [{ role: 'user', content: `use ${secret} for the deploy` }],
    });
    expect(completion.choices[0]!.message.content).toBe('Hello from the fake provider.');
    const sent = fx.fake.requests.at(-1)!;
    expect(sent.url).toBe('/v1/messages');
    expect(sent.body.toString()).not.toContain(secret);
    expect((sent.json as Json)['messages']).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'use [REDACTED:acme-token] for the deploy' }] },
    ]);
  });
});

describe('Codex’s and Cursor’s APIs (OpenAI Chat and Responses) on an Anthropic Provider', () => {
  it('Chat: sends Messages upstream (system hoisted, tools, max_tokens) and answers a Chat completion', async () => {
    fx.fake.requests.length = 0;
    const { data, response } = await openai()
      .chat.completions.create({
        model: 'gpt-on-anthropic',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'hello' },
        ],
        tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }],
      })
      .withResponse();
    expect(data).toMatchObject({
      object: 'chat.completion',
      model: 'gpt-on-anthropic',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the fake provider.' }, finish_reason: 'stop' }],
    });
    expect(fx.fake.requests[0]!.url).toBe('/v1/messages');
    expect(fx.fake.requests[0]!.headers['x-api-key']).toBe(upstreamKeys.anthropic);
    expect(fx.fake.requests[0]!.headers['anthropic-version']).toBe('2023-06-01');
    expect(upstreamBodies('claude-opus-upstream')[0]).toEqual({
      model: 'claude-opus-upstream',
      max_tokens: 8192,
      system: 'Be brief.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hello' }] }],
      tools: [{ name: 'lookup', input_schema: { type: 'object', properties: {} } }],
    });
    const row = await usageOf(response.headers.get('x-codevector-request-id')!);
    expect(row.input_tokens).toBe(data.usage!.prompt_tokens);
    expect(Number(row.cost)).toBeGreaterThan(0);
  });

  it('Chat: streams parallel tool calls as tool_calls deltas, with the usage chunk the client asked for', async () => {
    const stream = await openai().chat.completions.create({
      model: 'gpt-on-anthropic',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'CALL_TOOL:lookup:{"q":"one"}\nCALL_TOOL:lookup:{"q":"two"}' }],
      tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }],
    });
    const args: Record<number, string> = {};
    let finish: string | null = null;
    let usage: unknown = null;
    for await (const chunk of stream) {
      for (const call of chunk.choices[0]?.delta.tool_calls ?? [])
        args[call.index] = (args[call.index] ?? '') + (call.function?.arguments ?? '');
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(Object.values(args).map((a) => JSON.parse(a))).toEqual([{ q: 'one' }, { q: 'two' }]);
    expect(finish).toBe('tool_calls');
    expect(usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) });
  });

  it('Chat: refuses n > 1 in the OpenAI shape before anything is sent', async () => {
    fx.fake.requests.length = 0;
    const res = await fetch(`${fx.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${fx.key}` },
      body: JSON.stringify({ model: 'gpt-on-anthropic', n: 2, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error', message: expect.stringContaining('n=1') } });
    expect(fx.fake.requests).toHaveLength(0);
  });

  it('Chat: an overloaded Anthropic upstream answers in the OpenAI shape with its status', async () => {
    const res = await fetch(`${fx.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${fx.key}` },
      body: JSON.stringify({ model: 'gpt-overloaded', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(529);
    expect(await res.json()).toEqual({ error: { message: 'fake provider error 529', type: 'server_error', param: null, code: null } });
  });

  it('Responses: streams a function call round trip (Codex over SSE), billed from the Anthropic usage', async () => {
    fx.fake.requests.length = 0;
    const tools = [{ type: 'function' as const, name: 'exec_command', parameters: { type: 'object', properties: {} }, strict: false }];
    const first = await openai().responses.create({
      model: 'gpt-on-anthropic',
      instructions: 'You are Codex.',
      input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'CALL_TOOL:exec_command:{"cmd":"ls"}' }] }],
      tools,
      stream: true,
      store: false,
    });
    const events: { type: string }[] = [];
    for await (const event of first) events.push(event);
    const completed = events.at(-1) as unknown as { type: string; response: { output: Json[]; usage: Json } };
    expect(completed.type).toBe('response.completed');
    expect(events.map((e) => e.type)).toContain('response.function_call_arguments.delta');
    const call = completed.response.output.find((item) => item['type'] === 'function_call')!;
    expect(call).toMatchObject({ name: 'exec_command', arguments: '{"cmd":"ls"}', status: 'completed' });
    expect(completed.response.usage).toMatchObject({ input_tokens: expect.any(Number), output_tokens: expect.any(Number) });

    const second = await openai().responses.create({
      model: 'gpt-on-anthropic',
      input: [
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'CALL_TOOL:exec_command:{"cmd":"ls"}' }] },
        { type: 'function_call', call_id: call['call_id'] as string, name: 'exec_command', arguments: '{"cmd":"ls"}' },
        { type: 'function_call_output', call_id: call['call_id'] as string, output: 'a.txt b.txt' },
      ],
      tools,
    });
    expect(second.output_text).toBe('The tool said: a.txt b.txt');
    const sent = upstreamBodies('claude-opus-upstream')[1]!;
    expect(sent['messages']).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'CALL_TOOL:exec_command:{"cmd":"ls"}' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: call['call_id'], name: 'exec_command', input: { cmd: 'ls' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: call['call_id'], content: 'a.txt b.txt' }] },
    ]);
  });

  it('Responses over the WebSocket (Codex): keeps the conversation per socket for previous_response_id', async () => {
    fx.fake.requests.length = 0;
    const socket = new WebSocket(`${fx.base.replace('http', 'ws')}/v1/responses`, { headers: { authorization: `Bearer ${fx.key}` } });
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const events: Json[] = [];
    socket.on('message', (data) => events.push(JSON.parse(String(data)) as Json));
    const turn = async (message: Json) => {
      const from = events.length;
      socket.send(JSON.stringify({ type: 'response.create', ...message }));
      for (let i = 0; i < 200; i++) {
        const done = events.slice(from).find((e) => e['type'] === 'response.completed' || e['type'] === 'error');
        if (done) return done;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error('no response.completed');
    };
    const tools = [{ type: 'function', name: 'exec_command', parameters: { type: 'object', properties: {} } }];
    // Codex's warm-up generates nothing and never reaches the provider.
    const warm = await turn({ model: 'gpt-on-anthropic', input: [], tools, generate: false });
    expect(warm).toMatchObject({ type: 'response.completed', response: { output: [] } });
    expect(upstreamBodies('claude-opus-upstream')).toHaveLength(0);
    const warmId = (warm['response'] as Json)['id'];
    const first = await turn({
      model: 'gpt-on-anthropic',
      previous_response_id: warmId,
      input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'CALL_TOOL:exec_command:{"cmd":"pwd"}' }] }],
      tools,
    });
    const call = ((first['response'] as Json)['output'] as Json[]).find((item) => item['type'] === 'function_call')!;
    expect(call).toMatchObject({ type: 'function_call', name: 'exec_command', arguments: '{"cmd":"pwd"}' });
    const second = await turn({
      model: 'gpt-on-anthropic',
      previous_response_id: (first['response'] as Json)['id'],
      input: [{ type: 'function_call_output', call_id: call['call_id'], output: '/work' }],
      tools,
    });
    expect((second['response'] as Json)['output'] as Json[]).toMatchObject([
      {
        type: 'message',
        content: [{ type: 'output_text', text: 'The tool said: /work' }],
      },
    ]);
    // The provider got the whole conversation the session kept.
    expect(upstreamBodies('claude-opus-upstream')[1]!['messages']).toHaveLength(3);
    // A response the session does not hold is refused as OpenAI refuses it.
    const unknown = await turn({ model: 'gpt-on-anthropic', previous_response_id: 'resp_nope', input: [], tools });
    expect(unknown).toMatchObject({ type: 'error', error: { code: 'previous_response_not_found' } });
    socket.close();
    // Usage rows are written in batches: wait for all four turns (warm-up, two turns, the refusal).
    let rows: readonly { outcome: string; cost: string }[] = [];
    for (let i = 0; i < 100 && rows.length < 4; i++) {
      rows = await fx.pool.any(sql.type(z.object({ outcome: z.string(), cost: z.string() }))`
        select outcome, cost_usd::text as cost from usage where endpoint = 'responses.websocket' and model = 'gpt-on-anthropic' order by at`);
      if (rows.length < 4) await new Promise((r) => setTimeout(r, 50));
    }
    // Only the two turns the provider answered cost anything.
    expect(rows.map((r) => Number(r.cost) > 0)).toEqual([false, true, true, false]);
  });
});

describe('names, refusals and metrics', () => {
  it('counts translated attempts by the client’s and the upstream’s API', async () => {
    const text = await (await fetch(`http://127.0.0.1:${fx.gateway.metricsPort}/metrics`)).text();
    expect(text).toMatch(/^codevector_gateway_translated_requests_total\{from="anthropic",to="openai-chat"\} [1-9]/m);
    expect(text).toMatch(/^codevector_gateway_translated_requests_total\{from="openai-chat",to="anthropic"\} [1-9]/m);
    expect(text).toMatch(/^codevector_gateway_translated_requests_total\{from="openai-responses",to="anthropic"\} [1-9]/m);
  });

  it('lists the Models of both APIs when a name is unknown', async () => {
    const res = await fetch(`${fx.base}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': fx.key },
      body: JSON.stringify({ model: 'nope', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(404);
    const { error } = (await res.json()) as { error: { message: string } };
    expect(error.message).toContain('claude-on-openai');
    expect(error.message).toContain('gpt-on-anthropic');
  });
});
