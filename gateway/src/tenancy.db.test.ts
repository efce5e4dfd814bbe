import { sql } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type GatewayFixture, startGatewayFixture } from './testing/gateway-fixture.ts';

// Namespaces are tenants (ADR 0120): a Budget, RateLimit or SecretRule governs the Models of its
// own namespace, and those of the installation namespace govern every Model. Each test is the
// attack a team could try on another team through the real gateway.
let fx: GatewayFixture;
const installation = 'codevector-system';
const secretA = `teama_${'0123456789abcdef'.repeat(2)}`;
const secretAll = `corp_${'fedcba9876543210'.repeat(2)}`;

const provider = (namespace: string, url: string) => ({
  namespace,
  name: 'anthropic',
  spec: { type: 'anthropic', baseURL: url, timeoutSeconds: 5 },
  apiKey: `sk-${namespace}`,
});
const model = (namespace: string, name: string) => ({
  namespace,
  name,
  spec: { name, providerRef: { name: 'anthropic' }, upstreamModel: name, pricing: { input: 3, output: 15 } },
});
const pattern = (namespace: string, name: string, prefix: string) => ({
  namespace,
  name,
  spec: { patterns: [{ name, regex: `${prefix}_[a-f0-9]{32}`, keywords: [`${prefix}_`] }] },
});

beforeAll(async () => {
  fx = await startGatewayFixture({
    config: (fake) => ({
      providers: [provider('team-a', fake.url), provider('team-b', fake.url), provider(installation, fake.url)],
      models: [model('team-a', 'model-a'), model('team-b', 'model-b'), model(installation, 'model-shared')],
      secretRules: [pattern('team-a', 'team-a-tokens', 'teama'), pattern(installation, 'corp-tokens', 'corp')],
      budgets: [
        // A "global" Budget in team-a's namespace that is already used up: it must only stop team-a.
        { namespace: 'team-a', name: 'team-a-global', spec: { subject: { kind: 'global' }, amountUSD: '0.000001', period: 'day' } },
        // One naming team-b's model explicitly: the filter cannot reach across namespaces either.
        {
          namespace: 'team-a',
          name: 'team-a-on-b',
          spec: { subject: { kind: 'global' }, amountUSD: '0.000001', period: 'day', models: ['model-b'] },
        },
      ],
      rateLimits: [
        { namespace: 'team-a', name: 'team-a-one', spec: { subject: { kind: 'global' }, requestsPerMinute: 1 } },
        { namespace: installation, name: 'corp-per-user', spec: { subject: { kind: 'eachUser' }, requestsPerMinute: 1000 } },
      ],
    }),
    user: { email: 'dev@example.com' },
    env: { CODEVECTOR_INSTALLATION_NAMESPACE: installation },
  });
});
afterAll(async () => {
  await fx?.close();
});

const ask = (modelName: string, content = 'hello') =>
  fetch(`${fx.base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': fx.key, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: modelName, max_tokens: 16, messages: [{ role: 'user', content }] }),
  });
const errorOf = async (res: Response) => ((await res.json()) as { error: { message: string } }).error.message;

describe('namespaces are tenants at the gateway', () => {
  it("a team's SecretRule blocks its own Models and never another team's", async () => {
    const own = await ask('model-a', `token ${secretA}`);
    expect(own.status).toBe(400);
    expect(await errorOf(own)).toContain('team-a/team-a-tokens');
    const other = await ask('model-b', `token ${secretA}`);
    expect(other.status).toBe(200);
    const shared = await ask('model-shared', `token ${secretA}`);
    expect(shared.status).toBe(200);
  });

  it('an installation-namespace SecretRule applies to every namespace', async () => {
    for (const name of ['model-a', 'model-b', 'model-shared']) {
      const res = await ask(name, `token ${secretAll}`);
      expect(res.status, name).toBe(400);
      expect(await errorOf(res)).toContain(`${installation}/corp-tokens`);
    }
  });

  it("a team's global Budget and RateLimit limit only that team's Models, whatever Model they name", async () => {
    // Blocked scans above took no rate-limit slot: this one passes the limit and meets the spent budget.
    expect((await ask('model-a')).status).toBe(402);
    expect((await ask('model-a')).status).toBe(429);
    for (let i = 0; i < 3; i++) expect((await ask('model-b')).status).toBe(200);
    const refusals = await fx.pool.any(sql.type(z.object({ action: z.string(), target_name: z.string().nullable() }))`
      select action, target_name from audit_log where action in ('gateway.budget_exceeded', 'gateway.rate_limit_exceeded')`);
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals.every((r) => r.target_name?.startsWith('team-a/'))).toBe(true);
  });

  it('a new team-a rule reaches team-a within a reload and still leaves team-b alone', async () => {
    await fx.seedConfig({ secretRules: [pattern('team-a', 'team-a-more', 'teamb')] });
    const secretB = `teamb_${'0123456789abcdef'.repeat(2)}`;
    // The rule is named for team b's prefix, but it lives in team-a: it guards team-a only.
    for (let i = 0; i < 50; i++) {
      const res = await ask('model-a', `token ${secretB}`);
      if (res.status === 400) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect((await ask('model-b', `token ${secretB}`)).status).toBe(200);
  });
});
