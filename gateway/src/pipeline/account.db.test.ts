import { sql } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Principal } from '../principal.ts';
import { createPipelineDeps } from '../testing/pipeline-deps.ts';
import { account } from './account.ts';
import { admit } from './admit/admit.ts';
import type { Endpoint } from './endpoint.ts';

let t: Awaited<ReturnType<typeof createPipelineDeps>>;
const messages: Endpoint = { name: 'messages', surface: 'anthropic', providerTypes: ['anthropic'], format: 'anthropic', metered: true };
const who = {
  keyId: '00000000-0000-4000-8000-000000000002',
  userId: '00000000-0000-4000-8000-000000000001',
  email: 'dev@example.com',
  groups: [],
} as unknown as Principal;

beforeAll(async () => {
  t = await createPipelineDeps();
  await t.seed({
    providers: [{ name: 'anthropic', spec: { type: 'anthropic', baseURL: 'http://127.0.0.1:9' }, apiKey: 'sk-up' }],
    models: [
      {
        name: 'cheap',
        spec: {
          name: 'cheap',
          providerRef: { name: 'anthropic' },
          upstreamModel: 'cheap',
          pricing: { input: 0.075, output: 0.3, cacheRead: 0.0075 },
        },
      },
    ],
    budgets: [{ name: 'all', spec: { subject: { kind: 'global' }, amountUSD: 5, period: 'total' } }],
  });
});
afterAll(async () => {
  await t?.close();
});

describe('account', () => {
  it('writes the exact cost of a cheap request (never $0) and settles it against the budget', async () => {
    const body = { model: 'cheap', max_tokens: 10 };
    const admission = await admit(t.deps, t.deps.snapshots.current()!, messages, who, 'cheap', body, Buffer.from(JSON.stringify(body)));
    if (!admission.ok) throw new Error(admission.message);
    account(t.deps, {
      requestId: 'req-acc-1',
      principal: who,
      routed: admission.routed,
      endpointName: 'messages',
      metered: true,
      usage: { input: 1, output: 1, cacheRead: 3, cacheWrite: 0 },
      usageKnown: true,
      status: 200,
      outcome: 'ok',
      started: performance.now(),
      ttfbMs: 5,
      sessionId: null,
      rateTicket: admission.rateTicket,
      budgetTicket: admission.budgetTicket,
    });
    await t.deps.usage.flush();
    // 1 × 0.075 + 1 × 0.3 + 3 × 0.0075 per million = 0.0000003975 USD: numeric(20,10) made it 0.0000004.
    const cost = await t.pool.oneFirst(sql.type(z.object({ c: z.string() }))`
      select trim_scale(cost_usd)::text as c from usage where request_id = 'req-acc-1'`);
    expect(cost).toBe('0.0000003975');
    const budgetUid = t.deps.snapshots.current()!.config.budgets[0]!.uid;
    expect(t.deps.budgets.spendOf(budgetUid, 'global')).toBe(397_500n);
    expect(t.deps.metrics.render()).toContain('codevector_gateway_cost_usd_total{model="cheap"} 0.0000003975');
  });
});
