import { sql, statement } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createKubeTestEnv, type KubeTestEnv, type RunningOperator, ready, until } from './testing/kube-test-env.ts';

let env: KubeTestEnv;
let running: RunningOperator;
const merge = 'application/merge-patch+json';
const b64 = (s: string) => Buffer.from(s).toString('base64');

beforeAll(async () => {
  env = await createKubeTestEnv('op');
  running = await env.startOperator({ env: { CODEVECTOR_BUDGET_STATUS_SECONDS: '1' } });
});
afterAll(async () => {
  await env?.close();
});

const secret = (name: string, key: string) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, labels: { 'codevector.dev/provider-secret': 'true' } },
  stringData: { 'api-key': key },
});
const provider = (name: string, secretName: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'codevector.dev/v1alpha1',
  kind: 'Provider',
  metadata: { name },
  spec: { type: 'anthropic', baseURL: 'https://api.anthropic.com', apiKeySecretRef: { name: secretName, key: 'api-key' }, ...extra },
});
const model = (name: string, providerName: string) => ({
  apiVersion: 'codevector.dev/v1alpha1',
  kind: 'Model',
  metadata: { name },
  spec: { name, providerRef: { name: providerName }, upstreamModel: `${name}-upstream`, pricing: { input: 3, output: 15 } },
});
const secretsPath = () => `/api/v1/namespaces/${env.namespace}/secrets`;
const rowCount = (table: string, name: string) =>
  env.db.oneFirst(
    sql.type(
      z.object({ n: z.number() }),
    )`select count(*)::int as n from ${sql.identifier([table])} where namespace = ${env.namespace} and name = ${name}`,
  );
const auditFor = async (name: string) => (await env.audit()).filter((r) => r.target_name === `${env.namespace}/${name}`);
const readyOf = (plural: string, name: string, status: string, generation?: number) =>
  until(
    () => env.get(plural, name),
    (o) => ready(o).status === status && (generation === undefined || o.status?.['observedGeneration'] === generation),
  );

describe('operator against a real apiserver', () => {
  it('creates a Provider as the requesting user: row, one audit row with a fingerprint, Ready with observedGeneration', async () => {
    expect((await env.as('alice', 'POST', secretsPath(), secret('anthropic-key', 'sk-ant-first'))).status).toBe(201);
    const created = await env.as('alice', 'POST', env.path('providers'), provider('anthropic', 'anthropic-key'));
    expect(created.status).toBe(201);
    expect(created.body.metadata.annotations?.['codevector.dev/changed-by']).toBe('alice');
    const object = await readyOf('providers', 'anthropic', 'True', 1);
    expect(ready(object).reason).toBe('Reconciled');
    expect(object.metadata.finalizers).toContain('codevector.dev/finalizer');
    expect(object.status?.['apiKeyFingerprint']).toMatch(/^[0-9a-f]{8}$/);
    const rows = await auditFor('anthropic');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      action: 'provider.created',
      actor: 'alice',
      actor_source: 'kubernetes',
      target_id: object.metadata.uid,
    });
    expect(rows[0]?.detail.after.apiKeySecretRef).toEqual({ name: 'anthropic-key', key: 'api-key' });
    expect(rows[0]?.detail.after.keyFingerprint).toMatch(/^sha256:/);
    expect(JSON.stringify(rows)).not.toContain('sk-ant-first');
    const stored = await env.db.oneFirst(sql.type(z.object({ c: z.instanceof(Buffer) }))`
      select api_key_ciphertext as c from providers where namespace = ${env.namespace} and name = 'anthropic'`);
    expect(stored.toString('latin1')).not.toContain('sk-ant-first');
  });

  it('records a spec change as that user with only the changed field; annotation-only changes and forged stamps write nothing', async () => {
    await env.as('bob', 'PATCH', env.path('providers', 'anthropic'), { spec: { timeoutSeconds: 120 } }, merge);
    await readyOf('providers', 'anthropic', 'True', 2);
    const rows = await until(
      () => auditFor('anthropic'),
      (r) => r.length === 2,
    );
    expect(rows[1]).toMatchObject({
      action: 'provider.updated',
      actor: 'bob',
      detail: { before: { timeoutSeconds: 600 }, after: { timeoutSeconds: 120 } },
    });

    const forged = await env.as(
      'mallory',
      'PATCH',
      env.path('providers', 'anthropic'),
      { metadata: { annotations: { 'codevector.dev/changed-by': 'alice', note: 'hello' } } },
      merge,
    );
    expect(forged.body.metadata.annotations?.['codevector.dev/changed-by']).toBe('bob');
    await new Promise((resolve) => setTimeout(resolve, 500));
    await running.operator.idle();
    expect(await auditFor('anthropic')).toHaveLength(2);
  });

  it('re-reconciles when the Secret changes and records the fingerprint change, never the key, as the Secret editor', async () => {
    const before = (await env.get('providers', 'anthropic')).status?.['apiKeyFingerprint'];
    await env.as('dave', 'PATCH', `${secretsPath()}/anthropic-key`, { data: { 'api-key': b64('sk-ant-second') } }, merge);
    const rows = await until(
      () => auditFor('anthropic'),
      (r) => r.length === 3,
    );
    expect(rows[2]).toMatchObject({ action: 'provider.updated', actor: 'dave' });
    expect(Object.keys(rows[2]?.detail.after)).toEqual(['keyFingerprint']);
    expect(rows[2]?.detail.before.keyFingerprint).not.toBe(rows[2]?.detail.after.keyFingerprint);
    expect(JSON.stringify(rows)).not.toContain('sk-ant-second');
    const object = await until(
      () => env.get('providers', 'anthropic'),
      (o) => o.status?.['apiKeyFingerprint'] !== before,
    );
    expect(object.status?.['apiKeyFingerprint']).not.toBe(before);
  });

  it('reports an unknown providerRef, a missing Secret and a bad pattern with Ready=False and an Event, writes nothing, and heals without a restart', async () => {
    await env.as('alice', 'POST', env.path('models'), model('waiting-model', 'ghost'));
    await env.as('alice', 'POST', env.path('providers'), provider('ghost', 'ghost-key'));
    await env.as('alice', 'POST', env.path('secretrules'), {
      apiVersion: 'codevector.dev/v1alpha1',
      kind: 'SecretRule',
      metadata: { name: 'bad-rule' },
      spec: { patterns: [{ name: 'lookbehind', regex: '(?<=token=)[a-z]+', keywords: ['token='] }] },
    });
    const ghost = await readyOf('providers', 'ghost', 'False');
    expect(ready(ghost)).toMatchObject({
      reason: 'SecretNotFound',
      message: `Secret "ghost-key" does not exist in namespace "${env.namespace}".`,
    });
    const waiting = await readyOf('models', 'waiting-model', 'False');
    expect(ready(waiting).reason).toMatch(/^Provider(NotFound|NotReady)$/);
    const rule = await readyOf('secretrules', 'bad-rule', 'False');
    expect(ready(rule).reason).toBe('PatternInvalid');
    expect(ready(rule).message).toContain('lookbehind');
    expect(rule.status?.['patternErrors']).toHaveLength(1);
    expect(await rowCount('providers', 'ghost')).toBe(0);
    expect(await rowCount('models', 'waiting-model')).toBe(0);
    expect(await rowCount('secret_rules', 'bad-rule')).toBe(0);
    const events = await until(
      () =>
        env.client.request<{ items: { reason: string; involvedObject: { name: string } }[] }>(
          'GET',
          `/api/v1/namespaces/${env.namespace}/events`,
        ),
      (e) => ['SecretNotFound', 'PatternInvalid'].every((reason) => e.items.some((i) => i.reason === reason)),
    );
    expect(events.items.map((i) => `${i.involvedObject.name}:${i.reason}`)).toEqual(
      expect.arrayContaining(['ghost:SecretNotFound', 'bad-rule:PatternInvalid']),
    );

    await env.as('alice', 'POST', secretsPath(), secret('ghost-key', 'sk-ghost'));
    await readyOf('providers', 'ghost', 'True');
    await readyOf('models', 'waiting-model', 'True');
    await env.as(
      'alice',
      'PATCH',
      env.path('secretrules', 'bad-rule'),
      { spec: { patterns: [{ name: 'lookbehind', regex: 'token=[a-z]+', keywords: ['token='] }] } },
      merge,
    );
    const fixed = await readyOf('secretrules', 'bad-rule', 'True');
    expect(fixed.status?.['compiledPatterns']).toBe(1);
    expect(await rowCount('models', 'waiting-model')).toBe(1);
    expect((await auditFor('waiting-model')).map((r) => r.action)).toEqual(['model.created']);

    // A second Model claiming the same client-facing name is refused, not stored.
    const twin = model('twin-model', 'ghost');
    await env.as('alice', 'POST', env.path('models'), { ...twin, spec: { ...twin.spec, name: 'waiting-model' } });
    const clash = await readyOf('models', 'twin-model', 'False');
    expect(ready(clash)).toMatchObject({ reason: 'ModelNameConflict' });
    expect(ready(clash).message).toContain(`${env.namespace}/waiting-model`);
    expect(await rowCount('models', 'twin-model')).toBe(0);
    await env.as('alice', 'DELETE', env.path('models', 'twin-model'));
  });

  it('records deletes as the deleting user and removes the row, also when the reconciler was down during the delete', async () => {
    const uid = (await env.get('models', 'waiting-model')).metadata.uid;
    expect((await env.as('erin', 'DELETE', env.path('models', 'waiting-model'))).status).toBe(200);
    await until(
      () => rowCount('models', 'waiting-model'),
      (n) => n === 0,
    );
    expect((await auditFor('waiting-model')).at(-1)).toMatchObject({ action: 'model.deleted', actor: 'erin', target_id: uid });
    await until(
      () => env.as('admin', 'GET', env.path('models', 'waiting-model')),
      (r) => r.status === 404,
    );

    // The reconciler stops (the webhook keeps serving, as another replica would); the delete waits on the finalizer.
    await running.operator.stop({ release: true });
    expect((await env.as('frank', 'DELETE', env.path('secretrules', 'bad-rule'))).status).toBe(200);
    expect((await env.get('secretrules', 'bad-rule')).metadata.deletionTimestamp).toBeDefined();
    expect(await rowCount('secret_rules', 'bad-rule')).toBe(1);
    running = await env.startOperator({ webhook: false, env: { CODEVECTOR_BUDGET_STATUS_SECONDS: '1' } });
    await until(
      () => rowCount('secret_rules', 'bad-rule'),
      (n) => n === 0,
    );
    expect((await auditFor('bad-rule')).at(-1)).toMatchObject({ action: 'secret_rule.deleted', actor: 'frank' });
  });

  it('fails the change when the audit write fails: row unchanged, status shows it, retries, then exactly one audit row', async () => {
    await env.as('alice', 'POST', env.path('ratelimits'), {
      apiVersion: 'codevector.dev/v1alpha1',
      kind: 'RateLimit',
      metadata: { name: 'rl' },
      spec: { subject: { kind: 'global' }, requestsPerMinute: 100 },
    });
    await readyOf('ratelimits', 'rl', 'True', 1);
    await env.db.query(statement`
      create or replace function fail_audit() returns trigger language plpgsql as $$ begin raise exception 'audit storage is full'; end $$`);
    await env.db.query(statement`create trigger fail_audit before insert on audit_log for each row execute function fail_audit()`);
    try {
      await env.as('grace', 'PATCH', env.path('ratelimits', 'rl'), { spec: { requestsPerMinute: 5 } }, merge);
      const failing = await readyOf('ratelimits', 'rl', 'False');
      expect(ready(failing)).toMatchObject({ reason: 'StoreFailed' });
      expect(ready(failing).message).toContain('audit storage is full');
      const spec = await env.db.oneFirst(sql.type(z.object({ spec: z.any() }))`
        select spec from rate_limits where namespace = ${env.namespace} and name = 'rl'`);
      expect(spec.requestsPerMinute).toBe(100);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    } finally {
      await env.db.query(statement`drop trigger fail_audit on audit_log`);
    }
    await readyOf('ratelimits', 'rl', 'True', 2);
    const rows = await auditFor('rl');
    expect(rows.map((r) => [r.action, r.actor])).toEqual([
      ['rate_limit.created', 'alice'],
      ['rate_limit.updated', 'grace'],
    ]);
  });

  it('adds no audit rows across restarts and re-lists, nor when two field managers apply the same manifest', async () => {
    const before = (await env.audit()).length;
    for (let i = 0; i < 3; i++) {
      await running.stop({ release: true });
      running = await env.startOperator({ webhook: false, env: { CODEVECTOR_BUDGET_STATUS_SECONDS: '1' } });
      await running.operator.idle();
    }
    const manifest = {
      apiVersion: 'codevector.dev/v1alpha1',
      kind: 'RateLimit',
      metadata: { name: 'applied' },
      spec: { subject: { kind: 'user', name: 'a@example.com' }, tokensPerMinute: 1000 },
    };
    const apply = (manager: string) =>
      env.as(
        'henry',
        'PATCH',
        `${env.path('ratelimits', 'applied')}?fieldManager=${manager}&force=true`,
        JSON.stringify(manifest),
        'application/apply-patch+yaml',
      );
    expect((await apply('argocd')).status).toBe(201);
    await readyOf('ratelimits', 'applied', 'True', 1);
    expect((await apply('flux')).status).toBe(200);
    expect((await apply('kubectl')).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await running.operator.idle();
    const rows = (await env.audit()).slice(before);
    expect(rows.map((r) => r.action)).toEqual(['rate_limit.created']);
    expect((await env.get('ratelimits', 'applied')).metadata.generation).toBe(1);
  });

  it('shows budget spend, limit and the next reset in status, refreshed without audit rows', async () => {
    await env.as('alice', 'POST', env.path('budgets'), {
      apiVersion: 'codevector.dev/v1alpha1',
      kind: 'Budget',
      metadata: { name: 'monthly' },
      spec: { subject: { kind: 'global' }, amountUSD: '100.50', period: 'month' },
    });
    const budget = await readyOf('budgets', 'monthly', 'True');
    expect(budget.status).toMatchObject({ spentUSD: '0', remainingUSD: '100.5' });
    expect(budget.status?.['resetsAt']).toMatch(/^\d{4}-\d{2}-01T00:00:00Z$/);
    const before = (await env.audit()).length;
    const start = String(budget.status?.['periodStart']);
    await env.db.query(statement`
      insert into budget_windows (budget_uid, subject, window_start, window_end, limit_usd, spent_usd, leased_usd)
      values (${budget.metadata.uid}, 'global', ${start}::timestamptz, ${String(budget.status?.['resetsAt'])}::timestamptz, 100.5, 12.25, 0.25)`);
    const refreshed = await until(
      () => env.get('budgets', 'monthly'),
      (o) => o.status?.['spentUSD'] === '12.25',
      10_000,
    );
    expect(refreshed.status).toMatchObject({ spentUSD: '12.25', reservedUSD: '0.25', remainingUSD: '88' });
    expect(await env.audit()).toHaveLength(before);
  });
});

describe('fallbacks in status (ADR 0122)', () => {
  it('shows the routing order in status.routing, skips a fallback whose Provider is not Ready until it is, and takes one of another API', async () => {
    expect((await env.as('alice', 'POST', secretsPath(), secret('fb-key', 'sk-fb'))).status).toBe(201);
    expect((await env.as('alice', 'POST', env.path('providers'), provider('fb-primary', 'fb-key'))).status).toBe(201);
    await readyOf('providers', 'fb-primary', 'True');
    const withFallbacks = {
      ...model('fb-model', 'fb-primary'),
      spec: {
        ...model('fb-model', 'fb-primary').spec,
        patterns: ['fb-*'],
        default: true,
        fallbacks: [{ providerRef: { name: 'fb-later' }, upstreamModel: 'fb-other' }],
      },
    };
    expect((await env.as('alice', 'POST', env.path('models'), withFallbacks)).status).toBe(201);
    const first = await readyOf('models', 'fb-model', 'True');
    expect(first.status?.['routing']).toBe(
      'name fb-model; patterns fb-* (rank 3); default for unmatched names; upstreams fb-primary/fb-model-upstream → fb-later/fb-other (not Ready, skipped)',
    );
    // The fallback's Provider appears: the Model is reconciled again and names it plainly.
    expect((await env.as('alice', 'POST', env.path('providers'), provider('fb-later', 'fb-key'))).status).toBe(201);
    const healed = await until(
      () => env.get('models', 'fb-model'),
      (o) => !String(o.status?.['routing']).includes('not Ready'),
    );
    expect(healed.status?.['routing']).toMatch(/upstreams fb-primary\/fb-model-upstream → fb-later\/fb-other$/);

    const openai = provider('fb-openai', 'fb-key', { type: 'openai', baseURL: 'https://api.openai.com' });
    expect((await env.as('alice', 'POST', env.path('providers'), openai)).status).toBe(201);
    await readyOf('providers', 'fb-openai', 'True');
    const mixed = {
      ...model('fb-mixed', 'fb-primary'),
      spec: { ...model('fb-mixed', 'fb-primary').spec, fallbacks: [{ providerRef: { name: 'fb-openai' } }] },
    };
    // A fallback of another API is translated per attempt by the gateway (ADR 0124).
    expect((await env.as('alice', 'POST', env.path('models'), mixed)).status).toBe(201);
    const mixedReady = await readyOf('models', 'fb-mixed', 'True');
    expect(mixedReady.status?.['routing']).toMatch(/→ fb-openai\//);
    expect(await rowCount('models', 'fb-mixed')).toBe(1);
  });
});
