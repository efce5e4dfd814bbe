// Live state in status (issue #13 §5), end to end: a real apiserver and the operator with its
// default refresh, two gateway replicas on one PostgreSQL, the fake provider upstream. Measures
// how far Budget status trails the ledger the gateways write (budget_windows) under load, reads
// RateLimit usage and Provider health from status, checks that every Ready resource reads as
// Current by kstatus' rules, and runs the Argo CD health scripts of docs/argocd on the objects
// the operator wrote.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sql } from '@codevector/core/create-pool';
import { parseUsd } from '@codevector/core/money';
import { resourceKinds } from '@codevector/crds';
import { startGateway } from '@codevector/gateway/main';
import { seedUserWithKey } from '@codevector/gateway/seed-config';
import type { KubeObject } from '@codevector/operator/kube/kube-client';
import { kstatus } from '@codevector/operator/testing/kstatus';
import { createKubeTestEnv, type KubeTestEnv, type RunningOperator, ready, until } from '@codevector/operator/testing/kube-test-env';
import { type FakeProvider, startFakeProvider } from '@codevector/testbed/fake-provider';
import { freePort } from '@codevector/testbed/free-port';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { argoHealth, argoHealthInGopherLua, healthScript, lua51Compatible } from './argocd-health.ts';

let env: KubeTestEnv;
let operator: RunningOperator;
let fake: FakeProvider;
let gateways: Awaited<ReturnType<typeof startGateway>>[] = [];
let key: string;
let glua: string;
let extraNamespace: string;
let operatorEnv: Record<string, string>;
const upstreamKey = 'sk-ant-live-status-upstream-0123456789';

const api = 'codevector.dev/v1alpha1';
const plurals = Object.fromEntries(resourceKinds.map((k) => [k.kind, k.plural])) as Record<string, string>;
const create = async (body: { kind: string; metadata: { name: string } }, namespace = env.namespace) => {
  const plural = body.kind === 'Secret' ? 'secrets' : plurals[body.kind]!;
  const response = await env.as('platform-admin', 'POST', env.pathIn(namespace, plural), body);
  expect(response.status, JSON.stringify(response.body)).toBe(201);
};
const readyObject = (plural: string, name: string) =>
  until(
    () => env.get(plural, name),
    (o) => ready(o).status === 'True' && o.status?.['observedGeneration'] === o.metadata.generation,
    30_000,
  );

beforeAll(async () => {
  // Argo CD's own Lua (gopher-lua, 5.1), built once from the Go module proxy and cached.
  glua = (await promisify(execFile)('bash', [fileURLToPath(new URL('../../scripts/gopher-lua.sh', import.meta.url))])).stdout.trim();
  env = await createKubeTestEnv('e2e-live');
  // More live resources for the operator to refresh besides the measured Budget (default none):
  // LIVE_STATUS_EXTRA=300 adds 300 Budgets and 300 RateLimits, each re-read every interval, in a
  // namespace of their own (no Model there, so they cost the gateways nothing).
  extraNamespace = await env.addNamespace('extra');
  operatorEnv = { CODEVECTOR_WATCH_NAMESPACE: `${env.namespace},${extraNamespace}` };
  // The default refresh (CODEVECTOR_BUDGET_STATUS_SECONDS = 5): the bound is measured as shipped.
  operator = await env.startOperator({ webhook: false, env: operatorEnv });
  fake = await startFakeProvider({ record: false });
  const deadPort = await freePort();
  await create({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'upstream-key', labels: { 'codevector.dev/provider-secret': 'true' } },
    stringData: { 'api-key': upstreamKey },
  } as never);
  const providerSpec = (baseURL: string) => ({
    type: 'anthropic',
    baseURL,
    apiKeySecretRef: { name: 'upstream-key', key: 'api-key' },
    timeoutSeconds: 5,
  });
  await create({ apiVersion: api, kind: 'Provider', metadata: { name: 'upstream' }, spec: providerSpec(fake.url) } as never);
  await create({
    apiVersion: api,
    kind: 'Provider',
    metadata: { name: 'down' },
    spec: providerSpec(`http://127.0.0.1:${deadPort}`),
  } as never);
  const pricing = { input: 3, output: 15 };
  await create({
    apiVersion: api,
    kind: 'Model',
    metadata: { name: 'live' },
    spec: { name: 'claude-live', providerRef: { name: 'upstream' }, upstreamModel: 'claude-sonnet-5', pricing },
  } as never);
  await create({
    apiVersion: api,
    kind: 'Model',
    metadata: { name: 'unreachable' },
    spec: { name: 'claude-unreachable', providerRef: { name: 'down' }, upstreamModel: 'claude-sonnet-5', pricing },
  } as never);
  await create({
    apiVersion: api,
    kind: 'Budget',
    metadata: { name: 'monthly' },
    spec: { subject: { kind: 'global' }, amountUSD: 1000, period: 'month', timeZone: 'Europe/Berlin' },
  } as never);
  await create({
    apiVersion: api,
    kind: 'RateLimit',
    metadata: { name: 'generous' },
    spec: { subject: { kind: 'global' }, requestsPerMinute: 1_000_000, tokensPerMinute: 1_000_000_000 },
  } as never);
  await create({ apiVersion: api, kind: 'SecretRule', metadata: { name: 'builtin' }, spec: { detectors: ['all'] } } as never);
  // Every kind has a health script, so every kind is here; no sealer runs, so the sink has nothing to send.
  await create({
    apiVersion: api,
    kind: 'AuditSink',
    metadata: { name: 'siem' },
    spec: { type: 'otlp', otlp: { endpoint: `http://127.0.0.1:${deadPort}/v1/logs` } },
  } as never);
  for (const [plural, name] of [
    ['providers', 'upstream'],
    ['providers', 'down'],
    ['models', 'live'],
    ['models', 'unreachable'],
    ['budgets', 'monthly'],
    ['ratelimits', 'generous'],
    ['secretrules', 'builtin'],
    ['auditsinks', 'siem'],
  ] as const) {
    const object = await readyObject(plural, name);
    expect(ready(object).status, `${plural}/${name}: ${ready(object).message}`).toBe('True');
  }
  const extra = Number(process.env['LIVE_STATUS_EXTRA'] ?? 0);
  for (let i = 0; i < extra; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, extra - i) }, (_, j) => [
        create(
          {
            apiVersion: api,
            kind: 'Budget',
            metadata: { name: `extra-${i + j}` },
            spec: { subject: { kind: 'eachUser' }, amountUSD: 100, period: 'day', mode: 'observe' },
          } as never,
          extraNamespace,
        ),
        create(
          {
            apiVersion: api,
            kind: 'RateLimit',
            metadata: { name: `extra-${i + j}` },
            spec: { subject: { kind: 'eachUser' }, requestsPerMinute: 100_000 },
          } as never,
          extraNamespace,
        ),
      ]).flat(),
    );
  }
  if (extra > 0) {
    await until(
      () => env.client.request<{ items: KubeObject[] }>('GET', env.pathIn(extraNamespace, 'ratelimits')),
      (list) => list.items.length === extra && list.items.every((o) => ready(o).status === 'True'),
      120_000,
    );
  }
  ({ key } = await seedUserWithKey(env.db, { email: 'live@example.com' }));
  const gatewayEnv = {
    DATABASE_URL: process.env['DATABASE_URL']!,
    CODEVECTOR_ENCRYPTION_KEY: env.config.CODEVECTOR_ENCRYPTION_KEY!,
    CODEVECTOR_INSTALLATION_NAMESPACE: env.namespace,
    PORT: '0',
    METRICS_PORT: '0',
    LOG_LEVEL: 'silent',
    UPSTREAM_HEADER_ALLOW: 'x-fake-*',
  };
  gateways = [await startGateway(gatewayEnv), await startGateway(gatewayEnv)];
}, 180_000);

afterAll(async () => {
  for (const gateway of gateways) await gateway.close();
  await fake?.close();
  await env?.close();
});

async function send(gateway: number, model: string, headers: Record<string, string> = {}): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${gateways[gateway]!.port}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key, 'anthropic-version': '2023-06-01', ...headers },
    body: JSON.stringify({ model, max_tokens: 2000, messages: [{ role: 'user', content: 'hello' }] }),
  });
  await response.arrayBuffer();
  return response.status;
}

describe('Budget status under load across two gateway replicas', () => {
  it('stays within 10 s of the ledger, and shows the Europe/Berlin window', async () => {
    const budget = await env.get('budgets', 'monthly');
    const uid = budget.metadata.uid!;
    // The window: local midnight on the 1st in Berlin, which is 22:00 or 23:00 UTC the day before.
    expect(budget.status?.['periodStart']).toMatch(/^\d{4}-\d{2}-(28|29|30|31)T2[23]:00:00Z$/);
    expect(budget.status?.['resetsAt']).toMatch(/^\d{4}-\d{2}-(28|29|30|31)T2[23]:00:00Z$/);

    const ledger: { at: number; spent: bigint }[] = [];
    const status: { at: number; spent: bigint }[] = [];
    let loading = true;
    let sent = 0;
    const loadMs = 30_000;
    const until = Date.now() + loadMs;
    const workers = Array.from({ length: 8 }, async (_, i) => {
      while (Date.now() < until) {
        // 500–1500 output tokens a request: $0.0075–0.0225 each, spend grows every push.
        const status = await send(i % 2, 'claude-live', { 'x-fake-output-tokens': String(500 + ((sent * 37) % 1000)) });
        expect(status).toBe(200);
        sent++;
      }
    });
    const sampleLedger = (async () => {
      while (loading) {
        const spent = await env.db.maybeOneFirst(sql.type(z.object({ spent: z.string() }))`
          select spent_usd::text as spent from budget_windows where budget_uid = ${uid} and subject = 'global'
          order by window_start desc limit 1`);
        ledger.push({ at: Date.now(), spent: parseUsd(spent ?? '0') });
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const sampleStatus = (async () => {
      while (loading) {
        const object = await env.get('budgets', 'monthly');
        status.push({ at: Date.now(), spent: parseUsd(String(object.status?.['spentUSD'] ?? '0')) });
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    await Promise.all(workers);
    // Keep sampling until the status caught up with the last spend, to measure the tail too.
    const finalSpent = async () =>
      parseUsd(
        (await env.db.oneFirst(sql.type(z.object({ spent: z.string() }))`
          select spent_usd::text as spent from budget_windows where budget_uid = ${uid} and subject = 'global'`)) ?? '0',
      );
    await new Promise((resolve) => setTimeout(resolve, 500));
    const last = await finalSpent();
    const caughtUp = Date.now();
    while (Date.now() - caughtUp < 20_000 && (status.at(-1)?.spent ?? -1n) !== last)
      await new Promise((resolve) => setTimeout(resolve, 100));
    loading = false;
    await Promise.all([sampleLedger, sampleStatus]);

    // A status sample showing spend S is stale from the first moment the ledger held more than
    // S; its lag is how long before the sample that was (0 while it shows the latest spend).
    const lags = status.map((s) => {
      const passed = ledger.find((l) => l.spent > s.spent && l.at <= s.at);
      return passed ? s.at - passed.at : 0;
    });
    const sorted = [...lags].sort((a, b) => a - b);
    const figures = {
      extraLiveResources: 2 * Number(process.env['LIVE_STATUS_EXTRA'] ?? 0),
      requests: sent,
      replicas: gateways.length,
      loadSeconds: loadMs / 1000,
      spentUSD: Number(last) / 1e12,
      statusSamples: status.length,
      ledgerSamples: ledger.length,
      lagP50Ms: sorted[Math.floor(sorted.length * 0.5)],
      lagP95Ms: sorted[Math.floor(sorted.length * 0.95)],
      lagMaxMs: sorted.at(-1),
      statusUpdates: new Set(status.map((s) => s.spent)).size,
    };
    console.info(`budget status lag: ${JSON.stringify(figures)}`);
    expect(sent).toBeGreaterThan(100);
    expect(status.at(-1)?.spent).toBe(last);
    expect(figures.lagMaxMs).toBeLessThanOrEqual(10_000);
    // Status writes are not admin mutations: no audit row for them.
    const audit = await env.audit();
    expect(audit.filter((r) => r.target_name === `${env.namespace}/monthly`).map((r) => r.action)).toEqual(['budget.created']);
  }, 120_000);
});

describe('RateLimit and Provider status', () => {
  it('shows the sliding minute, upstream latency and the last upstream failure, with no secret', async () => {
    for (let i = 0; i < 4; i++) expect(await send(i % 2, 'claude-unreachable')).toBe(502);
    const down = await until(
      () => env.get('providers', 'down'),
      (o) => (o.status?.['lastError'] as { status?: number } | undefined)?.status === 0,
      15_000,
    );
    expect(down.status).toMatchObject({
      errorsLastMinute: 4,
      requestsLastMinute: 4,
      lastError: { status: 0, outcome: 'upstream_error', message: expect.stringMatching(/could not be reached/) },
    });
    const upstream = await until(
      () => env.get('providers', 'upstream'),
      (o) => typeof o.status?.['latencyP50Ms'] === 'number',
      15_000,
    );
    expect(upstream.status?.['requestsLastMinute']).toBeGreaterThan(0);
    expect(upstream.status?.['latencyP95Ms']).toBeGreaterThanOrEqual(upstream.status?.['latencyP50Ms'] as number);
    expect(upstream.status?.['lastError']).toBeUndefined();
    const limit = await until(
      () => env.get('ratelimits', 'generous'),
      (o) => Number(o.status?.['requestsLastMinute'] ?? 0) > 0,
      15_000,
    );
    expect(limit.status?.['tokensLastMinute']).toBeGreaterThan(0);
    expect(limit.status?.['activeSubjects']).toBe(1);
    for (const object of [down, upstream, limit]) {
      const text = JSON.stringify(object);
      expect(text).not.toContain(upstreamKey);
      expect(text).not.toContain(key);
      expect(text).not.toContain('live@example.com');
    }
  }, 60_000);
});

describe('kstatus and Argo CD health', () => {
  const all = async () => {
    const objects: KubeObject[] = [];
    for (const kind of resourceKinds) {
      const list = await env.client.request<{ items: KubeObject[] }>('GET', env.path(kind.plural));
      for (const item of list.items) objects.push({ ...item, kind: kind.kind, apiVersion: api });
    }
    return objects;
  };

  it('has a Lua 5.1 health script for every kind, and the check refuses newer Lua as gopher-lua does', async () => {
    for (const kind of resourceKinds) expect(lua51Compatible(await healthScript(kind.kind)), kind.kind).toEqual([]);
    expect(lua51Compatible('local x = 7 // 2\nif x & 1 == 1 then goto done end')).toEqual(['goto', 'integer division', 'bitwise operator']);
  });

  it('reads every Ready resource as Current and Healthy, a failing one as Failed and Degraded', async () => {
    await create({
      apiVersion: api,
      kind: 'Provider',
      metadata: { name: 'keyless' },
      spec: { type: 'anthropic', baseURL: fake.url, apiKeySecretRef: { name: 'missing', key: 'api-key' } },
    } as never);
    await until(
      () => env.get('providers', 'keyless'),
      (o) => ready(o).reason === 'SecretNotFound',
    );
    const objects = await all();
    expect(new Set(objects.map((o) => o.kind))).toEqual(new Set(resourceKinds.map((k) => k.kind)));
    for (const object of objects) {
      const name = `${object.kind}/${object.metadata.name}`;
      const health = await argoHealth(object.kind!, object);
      // Argo CD's interpreter gives the same answer as the reference Lua.
      expect(await argoHealthInGopherLua(glua, object.kind!, object), name).toEqual(health);
      if (ready(object).status === 'True') {
        expect(kstatus(object), name).toMatchObject({ status: 'Current' });
        expect(health.status, `${name}: ${health.message}`).toBe('Healthy');
      } else {
        expect(kstatus(object), name).toMatchObject({ status: 'Failed' });
        expect(health, name).toMatchObject({ status: 'Degraded', message: expect.stringMatching(/^SecretNotFound: /) });
      }
    }
    const budget = await argoHealth('Budget', objects.find((o) => o.kind === 'Budget')!);
    expect(budget.message).toMatch(/^Spent [0-9.]+ of 1000 USD; resets at /);
    const down = await argoHealth('Provider', objects.find((o) => o.metadata.name === 'down')!);
    expect(down).toMatchObject({ status: 'Healthy', message: expect.stringMatching(/^Upstream failing: 4 errors/) });
  });

  it('reads an object the operator never saw as Progressing, and a sink failing with rows undelivered as Degraded', async () => {
    const fresh = { apiVersion: api, kind: 'Budget', metadata: { name: 'new', generation: 1 }, spec: { amountUSD: 5 } };
    const sink = await env.get('auditsinks', 'siem');
    const failing = { ...sink, kind: 'AuditSink', status: { ...sink.status, lagRows: 12, lastError: 'connect ECONNREFUSED 127.0.0.1:9' } };
    for (const [kind, object, status, message] of [
      ['Budget', fresh, 'Progressing', /^Waiting for the CodeVector operator/],
      ['AuditSink', failing, 'Degraded', /^12 audit rows not delivered; last error: connect ECONNREFUSED/],
    ] as const) {
      const health = await argoHealth(kind, object);
      expect(health).toMatchObject({ status, message: expect.stringMatching(message) });
      expect(await argoHealthInGopherLua(glua, kind, object)).toEqual(health);
    }
    expect(kstatus(fresh as KubeObject)).toMatchObject({ status: 'InProgress' });
  });

  it('reads a changed resource as InProgress and Progressing until the operator reconciled it', async () => {
    await operator.stop();
    const patched = await env.as(
      'platform-admin',
      'PATCH',
      env.path('ratelimits', 'generous'),
      { spec: { requestsPerMinute: 2_000_000 } },
      'application/merge-patch+json',
    );
    expect(patched.status).toBe(200);
    const stale = await env.get('ratelimits', 'generous');
    expect(stale.metadata.generation).toBe(2);
    expect(kstatus(stale)).toMatchObject({ status: 'InProgress' });
    expect(await argoHealth('RateLimit', { ...stale, kind: 'RateLimit' })).toMatchObject({ status: 'Progressing' });
    expect(await argoHealthInGopherLua(glua, 'RateLimit', { ...stale, kind: 'RateLimit' })).toMatchObject({ status: 'Progressing' });
    operator = await env.startOperator({ webhook: false, env: operatorEnv });
    const current = await readyObject('ratelimits', 'generous');
    expect(kstatus(current)).toMatchObject({ status: 'Current' });
    expect(await argoHealth('RateLimit', { ...current, kind: 'RateLimit' })).toMatchObject({ status: 'Healthy' });
  }, 60_000);
});
