import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { sql } from '@codevector/core/create-pool';
import {
  fakeProviders,
  type GatewayFixture,
  sonnetModel,
  startGatewayFixture,
  upstreamKeys,
} from '@codevector/gateway/testing/gateway-fixture';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runClaudeCode } from './claude-code-cli.ts';

// Real clients (the official SDKs and the Claude Code CLI) → the gateway → the fake provider,
// with real PostgreSQL under the gateway (DESIGN §7).
let fx: GatewayFixture;

beforeAll(async () => {
  fx = await startGatewayFixture({
    config: (fake) => ({
      providers: fakeProviders(fake, { timeoutSeconds: 10 }),
      models: [
        sonnetModel,
        {
          name: 'gpt',
          spec: { name: 'gpt-5', providerRef: { name: 'openai' }, upstreamModel: 'gpt-5', pricing: { input: 1.25, output: 10 } },
        },
        {
          name: 'gpt-limited',
          spec: { name: 'gpt-limited', providerRef: { name: 'openai' }, upstreamModel: 'gpt-5', pricing: { input: 1, output: 1 } },
        },
        {
          name: 'pricey',
          spec: {
            name: 'claude-pricey',
            providerRef: { name: 'anthropic' },
            upstreamModel: 'claude-sonnet-5',
            pricing: { input: 1e6, output: 1e6 },
          },
        },
      ],
      rateLimits: [{ name: 'limited', spec: { subject: { kind: 'global' }, requestsPerMinute: 1, models: ['gpt-limited'] } }],
      budgets: [{ name: 'pricey', spec: { subject: { kind: 'global' }, amountUSD: 1, period: 'month', models: ['claude-pricey'] } }],
      secretRules: [{ name: 'builtin', spec: { detectors: ['all'] } }],
    }),
    user: { email: 'agent@example.com' },
  });
});

afterAll(async () => {
  await fx?.close();
});

describe('@anthropic-ai/sdk', () => {
  const client = () => new Anthropic({ apiKey: fx.key, baseURL: fx.base, maxRetries: 2 });

  it('creates a message, streams one, and calls a tool', async () => {
    const message = await client().messages.create({
      model: 'claude-sonnet-5',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(message.content[0]).toMatchObject({ type: 'text', text: 'Hello from the fake provider.' });

    const stream = client().messages.stream({ model: 'claude-sonnet-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] });
    const deltas: string[] = [];
    stream.on('text', (text) => deltas.push(text));
    const final = await stream.finalMessage();
    expect(deltas.join('')).toBe('Hello from the fake provider.');
    expect(final.usage.output_tokens).toBeGreaterThan(0);

    const tools = [
      { name: 'get_weather', description: 'Weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } },
    ];
    const toolStream = client().messages.stream({
      model: 'claude-sonnet-5',
      max_tokens: 100,
      tools,
      messages: [{ role: 'user', content: 'CALL_TOOL:get_weather:{"city":"Paris"}' }],
    });
    const toolTurn = await toolStream.finalMessage();
    const toolUse = toolTurn.content.find((block) => block.type === 'tool_use');
    expect(toolUse).toMatchObject({ name: 'get_weather', input: { city: 'Paris' } });
    const answer = await client().messages.create({
      model: 'claude-sonnet-5',
      max_tokens: 100,
      tools,
      messages: [
        { role: 'user', content: 'CALL_TOOL:get_weather:{"city":"Paris"}' },
        { role: 'assistant', content: toolTurn.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: (toolUse as { id: string }).id, content: 'sunny, 21C' }] },
      ],
    });
    expect(answer.content[0]).toMatchObject({ text: 'The tool said: sunny, 21C' });
  });

  it('gets refusals as typed errors, and does not retry a budget refusal', async () => {
    await expect(
      client().messages.create({ model: 'nope', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    ).rejects.toBeInstanceOf(Anthropic.NotFoundError);
    const blocked = client().messages.create({
      model: 'claude-sonnet-5',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'my db is postgres://app:Zq8!vR2mK9xw@db.prod.internal:5432/app' }],
    });
    await expect(blocked).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    await expect(blocked).rejects.toThrow(/database-url/);
    const before = fx.fake.requests.length;
    const refused = client().messages.create({ model: 'claude-pricey', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    await expect(refused).rejects.toMatchObject({ status: 402 });
    await expect(refused).rejects.toThrow(/default\/pricey/);
    expect(fx.fake.requests.length).toBe(before);
    const events = await fx.pool.oneFirst(sql.type(z.object({ n: z.number() }))`
      select count(*)::int as n from audit_log where action = 'gateway.budget_exceeded'`);
    // One refusal, one event: the SDK did not retry.
    expect(events).toBe(1);
  });
});

describe('openai', () => {
  const client = (maxRetries = 2) => new OpenAI({ apiKey: fx.key, baseURL: `${fx.base}/v1`, maxRetries });

  it('completes a chat, streams one without an unasked usage chunk, and calls a tool', async () => {
    const completion = await client().chat.completions.create({ model: 'gpt-5', messages: [{ role: 'user', content: 'hi' }] });
    expect(completion.choices[0]!.message.content).toBe('Hello from the fake provider.');

    const chunks = [];
    for await (const chunk of await client().chat.completions.create({
      model: 'gpt-5',
      stream: true,
      messages: [{ role: 'user', content: 'hi' }],
    })) {
      chunks.push(chunk);
    }
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Hello from the fake provider.');
    expect(chunks.every((c) => c.usage === undefined)).toBe(true);

    const withUsage = [];
    for await (const chunk of await client().chat.completions.create({
      model: 'gpt-5',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'hi' }],
    })) {
      withUsage.push(chunk);
    }
    expect(withUsage.at(-1)!.usage?.completion_tokens).toBeGreaterThan(0);

    const tool = await client().chat.completions.create({
      model: 'gpt-5',
      tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }],
      messages: [{ role: 'user', content: 'CALL_TOOL:lookup:{"q":"gateway"}' }],
    });
    expect(tool.choices[0]!.message.tool_calls?.[0]).toMatchObject({
      type: 'function',
      function: { name: 'lookup', arguments: '{"q":"gateway"}' },
    });
  });

  it('streams a Responses API turn', async () => {
    const stream = await client().responses.create({ model: 'gpt-5', input: 'hi', stream: true });
    let text = '';
    let completed = false;
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') completed = true;
    }
    expect(text).toBe('Hello from the fake provider.');
    expect(completed).toBe(true);
  });

  it('gets a rate-limit refusal as RateLimitError with retry-after', async () => {
    const first = await client(0).chat.completions.create({ model: 'gpt-limited', messages: [{ role: 'user', content: 'hi' }] });
    expect(first.choices.length).toBe(1);
    const refused = client(0).chat.completions.create({ model: 'gpt-limited', messages: [{ role: 'user', content: 'hi' }] });
    await expect(refused).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    await expect(refused).rejects.toMatchObject({ code: 'rate_limit_exceeded' });
  });
});

describe('Claude Code CLI', () => {
  it('runs claude -p through the gateway with one tool round trip', async () => {
    const work = await mkdtemp(path.join(tmpdir(), 'cv-claude-'));
    const file = path.join(work, 'note.txt');
    await writeFile(file, 'the answer is 42\n');
    fx.fake.requests.length = 0;
    try {
      const output = await runClaudeCode({
        args: [
          '-p',
          `CALL_TOOL:Read:${JSON.stringify({ file_path: file })}`,
          '--output-format',
          'json',
          '--model',
          'claude-sonnet-5',
          '--allowedTools',
          'Read',
        ],
        cwd: work,
        home: work,
        baseUrl: fx.base,
        apiKey: fx.key,
        timeoutMs: 90_000,
        env: { ANTHROPIC_SMALL_FAST_MODEL: 'claude-sonnet-5', ANTHROPIC_DEFAULT_HAIKU_MODEL: 'claude-sonnet-5' },
      });
      const result = JSON.parse(output) as { result: string; is_error: boolean };
      expect(result.is_error).toBe(false);
      expect(result.result).toContain('the answer is 42');
      const turns = fx.fake.requests.filter((r) => r.url.startsWith('/v1/messages'));
      expect(turns.length).toBeGreaterThanOrEqual(2);
      expect(turns.every((r) => r.url.includes('beta=true'))).toBe(true);
      expect(turns.every((r) => r.headers['x-api-key'] === upstreamKeys.anthropic)).toBe(true);
      expect(JSON.stringify(turns.at(-1)!.json)).toContain('tool_result');
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
