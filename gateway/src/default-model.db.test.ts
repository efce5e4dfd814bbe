import { sql } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type GatewayFixture, startGatewayFixture } from './testing/gateway-fixture.ts';

// Default Models and tenancy (ADR 0122) through the real gateway: team-a is a tenant (its Models
// serve only the `alpha` group's keys); team-b is no tenant, so its Models serve everyone but its
// default would catch every key's unknown names and is not honoured; the installation
// namespace's defaults serve every key, one per API.
let fx: GatewayFixture;
let alice: { key: string; keyId: string };
const installation = 'codevector-system';

const provider = (namespace: string, type: 'anthropic' | 'openai', url: string) => ({
  namespace,
  name: type,
  spec: { type, baseURL: type === 'openai' ? `${url}/v1` : url, timeoutSeconds: 5 },
  apiKey: `sk-${namespace}-${type}`,
});
const model = (namespace: string, name: string, extra: Record<string, unknown> = {}, type = 'anthropic') => ({
  namespace,
  name,
  spec: { name, providerRef: { name: type }, upstreamModel: `${name}-upstream`, pricing: { input: 3, output: 15 }, ...extra },
});
const defaults = (on: boolean) => [
  model(installation, 'shared-claude', on ? { default: true } : {}),
  model(installation, 'shared-gpt', on ? { default: true } : {}, 'openai'),
];

beforeAll(async () => {
  fx = await startGatewayFixture({
    config: (fake) => ({
      providers: [
        provider('team-a', 'anthropic', fake.url),
        provider('team-b', 'anthropic', fake.url),
        provider(installation, 'anthropic', fake.url),
        provider(installation, 'openai', fake.url),
      ],
      models: [
        model('team-a', 'claude-team-a', { default: true, aliases: ['team-a-secret-project'] }),
        model('team-b', 'claude-team-b', { default: true }),
        ...defaults(true),
      ],
    }),
    user: { email: 'dev@example.com' },
    env: { CODEVECTOR_INSTALLATION_NAMESPACE: installation, CODEVECTOR_TENANTS: 'team-a=alpha,alpha-admins' },
  });
  alice = await fx.seedUser({ email: 'alice@example.com', groups: ['alpha'] });
});
afterAll(async () => {
  await fx?.close();
});

const messages = (key: string, model: string) =>
  fetch(`${fx.base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
  });

async function servedBy(res: Response): Promise<string> {
  expect(res.status).toBe(200);
  const requestId = res.headers.get('x-codevector-request-id')!;
  for (let i = 0; i < 100; i++) {
    const row = await fx.pool.maybeOne(sql.type(z.object({ model: z.string(), provider: z.string() }))`
      select model, provider from usage where request_id = ${requestId}`);
    if (row) return `${row.provider} ${row.model}`;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no usage row');
}

describe('default models and tenancy', () => {
  it('sends a name nothing matches to the installation default of the request’s API, not to an open namespace’s default', async () => {
    // Claude Code's default model of some release, from a key that is no tenant's.
    expect(await servedBy(await messages(fx.key, 'claude-opus-9-9[1m]'))).toBe('codevector-system/anthropic shared-claude');
    fx.fake.requests.length = 0;
    // Codex's default model of some release, on the OpenAI surface: the OpenAI default.
    const codex = await fetch(`${fx.base}/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${fx.key}` },
      body: JSON.stringify({ model: 'gpt-6.2-sol', input: 'hi' }),
    });
    expect(await servedBy(codex)).toBe('codevector-system/openai shared-gpt');
    expect((fx.fake.requests[0]!.json as { model: string }).model).toBe('shared-gpt-upstream');
  });

  it('gives a tenant’s keys their namespace’s default first, and its Models', async () => {
    expect(await servedBy(await messages(alice.key, 'claude-opus-9-9'))).toBe('team-a/anthropic claude-team-a');
    expect(await servedBy(await messages(alice.key, 'team-a-secret-project'))).toBe('team-a/anthropic claude-team-a');
  });

  it('keeps a tenant’s Models from other keys: the name is just unknown to them', async () => {
    // Served by the default, as any unknown name: team-a's Model is not reachable.
    expect(await servedBy(await messages(fx.key, 'claude-team-a'))).toBe('codevector-system/anthropic shared-claude');
    // Open namespaces serve every key by name.
    expect(await servedBy(await messages(fx.key, 'claude-team-b'))).toBe('team-b/anthropic claude-team-b');
  });

  it('with no default, lists in the error and the event only the names that would have worked for that key', async () => {
    await fx.seedConfig({ models: defaults(false) });
    let res = await messages(fx.key, 'llama3');
    for (let i = 0; i < 100 && res.status !== 404; i++) {
      await new Promise((r) => setTimeout(r, 50));
      res = await messages(fx.key, 'llama3');
    }
    expect(res.status).toBe(404);
    const message = ((await res.json()) as { error: { message: string } }).error.message;
    // Either API's Models: translation serves both surfaces (ADR 0124).
    expect(message).toBe(
      'The model "llama3" is not configured on this gateway. Models you can use here: claude-team-b, shared-claude, shared-gpt.',
    );
    const event = await fx.pool.one(sql.type(z.object({ detail: z.record(z.string(), z.unknown()), actor: z.string() }))`
      select detail, actor from audit_log where action = 'gateway.model_not_found' order by id desc limit 1`);
    expect(event.actor).toBe('dev@example.com');
    expect(event.detail['available']).toEqual(['claude-team-b', 'shared-claude', 'shared-gpt']);

    // team-a's default still serves alice; on the OpenAI surface, where she has no default (defaults
    // stay per API), her list is hers.
    expect(await servedBy(await messages(alice.key, 'llama3'))).toBe('team-a/anthropic claude-team-a');
    const chat = await fetch(`${fx.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${alice.key}` },
      body: JSON.stringify({ model: 'llama3', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(chat.status).toBe(404);
    expect(((await chat.json()) as { error: { message: string } }).error.message).toContain(
      'Models you can use here: claude-team-a, claude-team-b, shared-claude, shared-gpt, team-a-secret-project.',
    );
  });

  it('lists in /v1/models only what the key may use', async () => {
    const list = async (key: string) =>
      (
        (await (await fetch(`${fx.base}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).json()) as { data: { id: string }[] }
      ).data.map((m) => m.id);
    expect(await list(fx.key)).toEqual(['claude-team-b', 'shared-claude', 'shared-gpt']);
    expect(await list(alice.key)).toEqual(['claude-team-a', 'claude-team-b', 'shared-claude', 'shared-gpt', 'team-a-secret-project']);
  });
});
