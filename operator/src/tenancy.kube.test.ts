import { sql } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createKubeTestEnv, type KubeTestEnv, type RunningOperator, ready, until } from './testing/kube-test-env.ts';

// Namespaces are tenants (ADR 0120), against a real apiserver: each test is what a user who may
// create resources in one team's namespace tries against another team or the installation.
let env: KubeTestEnv;
let running: RunningOperator;
let teamA: string;
let teamB: string;
const merge = 'application/merge-patch+json';
const api = 'codevector.dev/v1alpha1';
const mark = { 'codevector.dev/provider-secret': 'true' };

const secret = (name: string, labels: Record<string, string> = mark) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, labels },
  stringData: { 'api-key': `sk-${name}` },
});
const provider = (name: string, secretName: string, baseURL = 'https://api.anthropic.com') => ({
  apiVersion: api,
  kind: 'Provider',
  metadata: { name },
  spec: { type: 'anthropic', baseURL, apiKeySecretRef: { name: secretName, key: 'api-key' } },
});
const model = (name: string, modelName: string, providerName = 'anthropic') => ({
  apiVersion: api,
  kind: 'Model',
  metadata: { name },
  spec: { name: modelName, providerRef: { name: providerName }, upstreamModel: modelName, pricing: { input: 3, output: 15 } },
});

const readyIn = (namespace: string, plural: string, name: string, status: string, reason?: string) =>
  until(
    () => env.client.request<{ metadata: { uid: string }; status?: Record<string, unknown> }>('GET', env.pathIn(namespace, plural, name)),
    (o) => ready(o as never).status === status && (reason === undefined || ready(o as never).reason === reason),
  ).then((o) => ({ object: o, ready: ready(o as never) }));
const rows = (table: string, namespace: string, name: string) =>
  env.db.oneFirst(sql.type(z.object({ n: z.number() }))`
    select count(*)::int as n from ${sql.identifier([table])} where namespace = ${namespace} and name = ${name}`);
const auditOf = async (namespace: string, name: string) => (await env.audit()).filter((r) => r.target_name === `${namespace}/${name}`);
const create = async (user: string, namespace: string, plural: string, body: unknown) => {
  const response = await env.as(user, 'POST', env.pathIn(namespace, plural), body);
  expect(response.status, JSON.stringify(response.body)).toBe(201);
};

const startServing = (namespaces: string[]) =>
  env.startOperator({
    env: {
      CODEVECTOR_WATCH_NAMESPACE: namespaces.join(','),
      CODEVECTOR_INSTALLATION_NAMESPACE: env.namespace,
      CODEVECTOR_PROVIDER_BASE_URLS: 'https://api.anthropic.com,https://proxy.example.com/anthropic',
    },
  });

beforeAll(async () => {
  env = await createKubeTestEnv('ten');
  teamA = await env.addNamespace('a');
  teamB = await env.addNamespace('b');
  running = await startServing([env.namespace, teamA, teamB]);
  for (const ns of [env.namespace, teamA, teamB]) {
    await create('admin', ns, 'secrets', secret('anthropic-key'));
    await create('admin', ns, 'providers', provider('anthropic', 'anthropic-key'));
    await readyIn(ns, 'providers', 'anthropic', 'True');
  }
});
afterAll(async () => {
  await env?.close();
});

describe('Model names across namespaces', () => {
  it("refuses a newer same-name Model in another namespace: ModelNameConflict, model.conflict audited, no row, the owner's untouched", async () => {
    await create('alice', teamA, 'models', model('sonnet', 'claude-sonnet-5'));
    await readyIn(teamA, 'models', 'sonnet', 'True');
    // The attack: team-b claims the name team-a's agents send, to receive their prompts.
    await create('mallory', teamB, 'models', model('hijack', 'claude-sonnet-5'));
    const lost = await readyIn(teamB, 'models', 'hijack', 'False', 'ModelNameConflict');
    expect(lost.ready.message).toContain(`Model "${teamA}/sonnet" is older`);
    expect(await rows('models', teamB, 'hijack')).toBe(0);
    expect(await rows('models', teamA, 'sonnet')).toBe(1);
    const audit = await until(
      () => auditOf(teamB, 'hijack'),
      (r) => r.length === 1,
    );
    expect(audit).toMatchObject([{ action: 'model.conflict', actor: 'system', detail: { reason: 'ModelNameConflict', withdrawn: false } }]);
    // An alias is a name too.
    await create('mallory', teamB, 'models', {
      ...model('alias-hijack', 'innocent-name'),
      spec: { ...model('x', 'innocent-name').spec, aliases: ['claude-sonnet-5'] },
    });
    await readyIn(teamB, 'models', 'alias-hijack', 'False', 'ModelNameConflict');
    // Resyncs and restarts never repeat the audit row.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await auditOf(teamB, 'hijack')).toHaveLength(1);
  });

  it('the oldest claim wins even when the newer one was stored first, and the loser is withdrawn and audited', async () => {
    // team-a is onboarded late: while the operator serves only the other namespaces, team-a
    // creates its Model first and team-b a newer one of the same name, which is stored.
    await running.stop();
    running = await startServing([env.namespace, teamB]);
    await create('alice', teamA, 'models', model('opus', 'claude-opus-5'));
    await new Promise((resolve) => setTimeout(resolve, 1100)); // creationTimestamp has second resolution
    await create('bob', teamB, 'models', model('opus', 'claude-opus-5'));
    await readyIn(teamB, 'models', 'opus', 'True');
    expect(await rows('models', teamB, 'opus')).toBe(1);

    await running.stop();
    running = await startServing([env.namespace, teamA, teamB]);
    await readyIn(teamA, 'models', 'opus', 'True');
    const lost = await readyIn(teamB, 'models', 'opus', 'False', 'ModelNameConflict');
    expect(lost.ready.message).toContain(`${teamA}/opus`);
    expect(await rows('models', teamB, 'opus')).toBe(0);
    const audit = await auditOf(teamB, 'opus');
    expect(audit.map((r) => r.action)).toEqual(['model.created', 'model.conflict']);
    expect(audit[1]).toMatchObject({ actor: 'system', detail: { withdrawn: true, before: { name: 'claude-opus-5' }, after: null } });
  });

  it('frees the name when the winner is deleted: the next oldest takes it', async () => {
    const deleted = await env.as('alice', 'DELETE', env.pathIn(teamA, 'models', 'opus'));
    expect(deleted.status).toBe(200);
    const freed = await readyIn(teamB, 'models', 'opus', 'True');
    expect(freed.ready.status).toBe('True');
    expect(await rows('models', teamB, 'opus')).toBe(1);
  });
});

describe('Provider Secrets need their owner’s mark', () => {
  it('refuses a Secret without codevector.dev/provider-secret=true, never labels it, and accepts it once the owner does', async () => {
    // The attack: a Provider creator points at a Secret of the namespace they may not read.
    await create('admin', teamA, 'secrets', secret('database-password', {}));
    await create('mallory', teamA, 'providers', provider('exfil', 'database-password'));
    const refused = await readyIn(teamA, 'providers', 'exfil', 'False', 'SecretNotMarked');
    expect(refused.ready.message).toContain('codevector.dev/provider-secret=true');
    expect(await rows('providers', teamA, 'exfil')).toBe(0);
    const stored = await env.client.request<{ metadata: { labels?: Record<string, string> } }>(
      'GET',
      env.pathIn(teamA, 'secrets', 'database-password'),
    );
    expect(stored.metadata.labels?.['codevector.dev/provider-secret']).toBeUndefined();
    expect((await auditOf(teamA, 'exfil')).map((r) => r.action)).toEqual(['provider.refused']);

    await env.as('admin', 'PATCH', env.pathIn(teamA, 'secrets', 'database-password'), { metadata: { labels: mark } }, merge);
    await readyIn(teamA, 'providers', 'exfil', 'True');
    expect(await rows('providers', teamA, 'exfil')).toBe(1);
  });

  it('withdraws a stored Provider whose Secret loses the mark', async () => {
    await env.as(
      'admin',
      'PATCH',
      env.pathIn(teamA, 'secrets', 'database-password'),
      { metadata: { labels: { 'codevector.dev/provider-secret': null } } },
      merge,
    );
    await readyIn(teamA, 'providers', 'exfil', 'False', 'SecretNotMarked');
    expect(await rows('providers', teamA, 'exfil')).toBe(0);
    const audit = await auditOf(teamA, 'exfil');
    expect(audit.at(-1)).toMatchObject({ action: 'provider.refused', detail: { withdrawn: true } });
  });
});

describe('Provider baseURL allow-list', () => {
  it.each([
    ['a lookalike host', 'https://api.anthropic.com.evil.test'],
    ['userinfo that hides the host', 'https://api.anthropic.com@evil.test'],
    ['another scheme', 'http://api.anthropic.com'],
    ['a sibling path', 'https://proxy.example.com/anthropic-evil'],
  ])('refuses %s with BaseURLNotAllowed', async (_what, baseURL) => {
    const name = `url-${Math.random().toString(36).slice(2, 8)}`;
    await create('mallory', teamB, 'providers', provider(name, 'anthropic-key', baseURL));
    const refused = await readyIn(teamB, 'providers', name, 'False', 'BaseURLNotAllowed');
    expect(refused.ready.message).toContain(baseURL);
    expect(await rows('providers', teamB, name)).toBe(0);
  });

  it('accepts an allowed URL and a path below an allowed path', async () => {
    await create('bob', teamB, 'providers', provider('via-proxy', 'anthropic-key', 'https://proxy.example.com/anthropic/v1'));
    await readyIn(teamB, 'providers', 'via-proxy', 'True');
  });
});

describe('policies say whose traffic they govern', () => {
  it("a team's Budget and SecretRule report their namespace; the installation namespace's report every namespace", async () => {
    const budget = (name: string) => ({
      apiVersion: api,
      kind: 'Budget',
      metadata: { name },
      spec: { subject: { kind: 'global' }, amountUSD: 1, period: 'day' },
    });
    const rule = (name: string) => ({ apiVersion: api, kind: 'SecretRule', metadata: { name }, spec: { detectors: ['cloud'] } });
    await create('alice', teamA, 'budgets', budget('team'));
    await create('alice', teamA, 'secretrules', rule('team'));
    await create('admin', env.namespace, 'budgets', budget('company'));
    await create('admin', env.namespace, 'secretrules', rule('company'));
    for (const plural of ['budgets', 'secretrules']) {
      expect((await readyIn(teamA, plural, 'team', 'True')).ready.message).toContain(`namespace "${teamA}" only`);
      expect((await readyIn(env.namespace, plural, 'company', 'True')).ready.message).toContain('every namespace');
    }
  });
});
