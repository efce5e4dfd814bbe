import { sql } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Principal } from '../../principal.ts';
import { createPipelineDeps } from '../../testing/pipeline-deps.ts';
import type { Endpoint } from '../endpoint.ts';
import { admit } from './admit.ts';

let t: Awaited<ReturnType<typeof createPipelineDeps>>;
const messages: Endpoint = { name: 'messages', surface: 'anthropic', providerTypes: ['anthropic'], format: 'anthropic', metered: true };
const countTokens: Endpoint = { ...messages, name: 'messages.count_tokens', metered: false };
const chat: Endpoint = { name: 'chat.completions', surface: 'openai', providerTypes: ['openai'], format: 'openai-chat', metered: true };
let users = 0;
/** A caller with its own user id, so per-user limits never share a counter between tests. */
const principal = (email: string): Principal => {
  const id = `00000000-0000-4000-8000-${String(++users).padStart(12, '0')}`;
  return { keyId: id, userId: id, email, groups: ['interns'] } as unknown as Principal;
};
const secret = `acme_${'0123456789abcdef'.repeat(2)}`;

beforeAll(async () => {
  t = await createPipelineDeps();
  await t.seed({
    providers: [{ name: 'anthropic', spec: { type: 'anthropic', baseURL: 'http://127.0.0.1:9' }, apiKey: 'sk-up' }],
    models: [
      {
        name: 'm',
        spec: { name: 'claude-x', providerRef: { name: 'anthropic' }, upstreamModel: 'claude-x', pricing: { input: 3, output: 15 } },
      },
    ],
    secretRules: [{ name: 'custom', spec: { patterns: [{ name: 'acme-token', regex: 'acme_[a-f0-9]{32}', keywords: ['acme_'] }] } }],
    rateLimits: [{ name: 'one-per-minute', spec: { subject: { kind: 'eachUser' }, requestsPerMinute: 1 } }],
    budgets: [{ name: 'interns', spec: { subject: { kind: 'group', name: 'interns' }, amountUSD: '0.000001', period: 'day' } }],
  });
});
afterAll(async () => {
  await t?.close();
});

const run = (endpoint: Endpoint, who: Principal, body: Record<string, unknown>) =>
  admit(t.deps, t.deps.snapshots.current()!, endpoint, who, String(body['model']), body, Buffer.from(JSON.stringify(body)));

describe('admit runs the policies in the product’s order', () => {
  it('model first: an unknown model is refused before anything else looks at the body', async () => {
    const outcome = await run(messages, principal('a@example.com'), { model: 'nope', content: secret });
    expect(outcome).toMatchObject({ ok: false, code: 'GW_MODEL_NOT_FOUND', event: { action: 'gateway.model_not_found' } });
  });

  it('a model of the other API is admitted: the forward step translates (ADR 0124)', async () => {
    // Unmetered here, so this caller's spent budget does not answer first.
    const routed = await run({ ...chat, metered: false }, principal('a@example.com'), { model: 'claude-x' });
    expect(routed).toMatchObject({ ok: true, routed: { model: { modelName: 'claude-x' } } });
  });

  it('secret scan before rate limit: a blocked request does not take the caller’s one request per minute', async () => {
    const who = principal('b@example.com');
    expect(await run(messages, who, { model: 'claude-x', content: `key ${secret}` })).toMatchObject({
      ok: false,
      code: 'GW_SECRET_BLOCKED',
    });
    // The slot is still there, and the next request reaches the budget, which is too small.
    const next = await run(messages, who, { model: 'claude-x', content: 'hello', max_tokens: 10 });
    expect(next).toMatchObject({ ok: false, code: 'GW_BUDGET_EXCEEDED', event: { detail: { limitUSD: '0.000001' } } });
    // Rate limit before budget: the refused request used the slot, so now the rate limit answers.
    expect(await run(messages, who, { model: 'claude-x', content: 'hello' })).toMatchObject({ ok: false, code: 'GW_RATE_LIMITED' });
  });

  it('an unmetered endpoint skips rate limits and budgets but not the scan', async () => {
    const who = principal('c@example.com');
    for (let i = 0; i < 3; i++) {
      expect(await run(countTokens, who, { model: 'claude-x', content: 'hello' })).toMatchObject({
        ok: true,
        rateTicket: null,
        budgetTicket: null,
      });
    }
    expect(await run(countTokens, who, { model: 'claude-x', content: secret })).toMatchObject({ ok: false, code: 'GW_SECRET_BLOCKED' });
  });

  it('records nothing itself: the refuse step does', async () => {
    const n = await t.pool.oneFirst(sql.type(z.object({ n: z.number() }))`select count(*)::int as n from audit_log`);
    expect(n).toBe(0);
  });
});
