import { sql } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fakeProviders, type GatewayFixture, startGatewayFixture } from './testing/gateway-fixture.ts';

// Model routing through the real gateway: the default model of whichever Claude Code release a
// developer runs reaches a declared Model through a pattern, variants route to their base name,
// and a model filter on a Budget covers every way to reach its Model.
let fx: GatewayFixture;

beforeAll(async () => {
  fx = await startGatewayFixture({
    config: (fake) => ({
      providers: fakeProviders(fake, { timeoutSeconds: 5 }),
      models: [
        {
          name: 'sonnet',
          spec: {
            name: 'claude-sonnet-5',
            providerRef: { name: 'anthropic' },
            upstreamModel: 'claude-sonnet-5-upstream',
            pricing: { input: 3, output: 15 },
            patterns: ['claude-*'],
          },
        },
        {
          name: 'opus',
          spec: {
            name: 'claude-opus-4-5',
            providerRef: { name: 'anthropic' },
            upstreamModel: 'claude-opus-4-5-20251101',
            pricing: { input: 5, output: 25 },
            aliases: ['opus-dated'],
          },
        },
      ],
      // A tiny budget for opus only, named by its main name.
      budgets: [
        { name: 'opus-only', spec: { subject: { kind: 'global' }, amountUSD: '0.000001', period: 'day', models: ['claude-opus-4-5'] } },
      ],
    }),
    user: { email: 'dev@example.com' },
  });
});
afterAll(async () => {
  await fx?.close();
});

const post = (model: string) =>
  fetch(`${fx.base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': fx.key, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
  });

describe('model routing', () => {
  it('serves an agent’s undeclared default model through a pattern, sent upstream as the Model says', async () => {
    fx.fake.requests.length = 0;
    const res = await post('claude-opus-9-9[1m]');
    expect(res.status).toBe(200);
    expect((fx.fake.requests[0]!.json as { model: string }).model).toBe('claude-sonnet-5-upstream');
    await new Promise((r) => setTimeout(r, 300));
    const row = await fx.pool.one(sql.type(z.object({ model: z.string() }))`select model from usage order by id desc limit 1`);
    expect(row.model).toBe('claude-sonnet-5');
  });

  it('routes a variant of an exact name to that Model, not to the pattern', async () => {
    fx.fake.requests.length = 0;
    const res = await post('claude-opus-4-5[1m]');
    // The opus budget is too small: the refusal proves the request reached opus.
    expect(res.status).toBe(402);
    expect(await res.text()).toContain('opus-only');
  });

  it('applies a model-filtered Budget to the Model’s aliases too, so an alias is no way around it', async () => {
    const res = await post('opus-dated');
    expect(res.status).toBe(402);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('Budget "default/opus-only"');
  });

  it('lets clients retry what a retry can fix, and only that', async () => {
    const unknownKey = await fetch(`${fx.base}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'cvk_nope' },
      body: '{}',
    });
    expect(unknownKey.status).toBe(401);
    expect(unknownKey.headers.get('x-should-retry')).toBe('false');
    const spent = await post('opus-dated');
    expect(spent.headers.get('x-should-retry')).toBe('false');
    const upstreamDown = await fetch(`${fx.base}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': fx.key, 'x-fake-status': '529' },
      body: JSON.stringify({ model: 'claude-sonnet-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    });
    // The provider's own overloaded answer passes through untouched, without the gateway's hint.
    expect(upstreamDown.status).toBe(529);
    expect(upstreamDown.headers.get('x-should-retry')).toBeNull();
  });

  it('names the models a client can use when nothing matches, on either surface', async () => {
    const res = await post('llama3');
    expect(res.status).toBe(404);
    // Final: the SDKs behind Claude Code and Codex stop instead of retrying for minutes.
    expect(res.headers.get('x-should-retry')).toBe('false');
    const message = ((await res.json()) as { error: { message: string } }).error.message;
    expect(message).toContain('Models you can use here: claude-*, claude-opus-4-5, claude-sonnet-5, opus-dated.');
    // Translation (ADR 0124) lets the OpenAI surface reach the same Models: the same list.
    const chat = await fetch(`${fx.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${fx.key}` },
      body: JSON.stringify({ model: 'llama3', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(chat.status).toBe(404);
    expect(((await chat.json()) as { error: { message: string } }).error.message).toContain(
      'Models you can use here: claude-*, claude-opus-4-5, claude-sonnet-5, opus-dated.',
    );
  });
});
