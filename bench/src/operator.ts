// `npm run bench -- operator`: the operator against a real local control plane and PostgreSQL.
//  1. ready_1000_s: 1,000 mixed custom resources (Providers with their Secrets, Models, Budgets,
//     RateLimits, SecretRules) applied as fast as the apiserver takes them, until every one is
//     Ready for its generation AND has its row and exactly one audit row.
//  2. change_p50_ms / change_p99_ms: 200 single spec changes, one at a time, each timed from the
//     PATCH to the apiserver until NOTIFY config_changed arrives (sent at commit of the row +
//     audit row transaction, so "received" means the gateway could reload it).
// The operator runs as its own process (node operator/src/main.ts run) with its admission
// webhook on, as in a cluster.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createPool, sql } from '@codevector/core/create-pool';
import { createLogger } from '@codevector/core/logger';
import { migrate } from '@codevector/core/migrate';
import { createInformer } from '@codevector/operator/kube/informer';
import { createKubeClient, type KubeClient, type KubeObject } from '@codevector/operator/kube/kube-client';
import { loadKubeconfigFile } from '@codevector/operator/kube/kube-config';
import { startControlPlane } from '@codevector/testbed/control-plane';
import { freePort } from '@codevector/testbed/free-port';
import { runAdminStatements, startPostgres } from '@codevector/testbed/postgres';
import pg from 'pg';
import { z } from 'zod';

const root = fileURLToPath(new URL('../../', import.meta.url));
const group = '/apis/codevector.dev/v1alpha1';
const plurals = ['providers', 'models', 'budgets', 'ratelimits', 'secretrules'] as const;
const mix = { providers: 100, models: 400, budgets: 150, ratelimits: 150, secretrules: 200 };
const changes = 200;

function manifests(namespace: string): { secrets: unknown[]; objects: { plural: string; body: unknown }[] } {
  const secrets: unknown[] = [];
  const objects: { plural: string; body: unknown }[] = [];
  const meta = (name: string) => ({ name, namespace });
  const api = 'codevector.dev/v1alpha1';
  for (let i = 0; i < mix.providers; i++) {
    secrets.push({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { ...meta(`key-${i}`), labels: { 'codevector.dev/provider-secret': 'true' } },
      stringData: { 'api-key': `sk-bench-${i}-${randomBytes(8).toString('hex')}` },
    });
    objects.push({
      plural: 'providers',
      body: {
        apiVersion: api,
        kind: 'Provider',
        metadata: meta(`p-${i}`),
        spec: { type: 'anthropic', baseURL: 'https://api.anthropic.com', apiKeySecretRef: { name: `key-${i}`, key: 'api-key' } },
      },
    });
  }
  for (let i = 0; i < mix.models; i++) {
    objects.push({
      plural: 'models',
      body: {
        apiVersion: api,
        kind: 'Model',
        metadata: meta(`m-${i}`),
        spec: {
          name: `model-${i}`,
          providerRef: { name: `p-${i % mix.providers}` },
          upstreamModel: `up-${i}`,
          pricing: { input: 3, output: 15 },
        },
      },
    });
  }
  for (let i = 0; i < mix.budgets; i++) {
    objects.push({
      plural: 'budgets',
      body: {
        apiVersion: api,
        kind: 'Budget',
        metadata: meta(`b-${i}`),
        spec: { subject: { kind: 'user', name: `u${i}@example.com` }, amountUSD: 100 + i, period: 'month' },
      },
    });
  }
  for (let i = 0; i < mix.ratelimits; i++) {
    objects.push({
      plural: 'ratelimits',
      body: {
        apiVersion: api,
        kind: 'RateLimit',
        metadata: meta(`rl-${i}`),
        spec: { subject: { kind: 'user', name: `u${i}@example.com` }, requestsPerMinute: 60 + i },
      },
    });
  }
  for (let i = 0; i < mix.secretrules; i++) {
    objects.push({
      plural: 'secretrules',
      body: {
        apiVersion: api,
        kind: 'SecretRule',
        metadata: meta(`sr-${i}`),
        spec: { patterns: [{ name: 'internal', regex: `itk${i}_[A-Za-z0-9]{32}`, keywords: [`itk${i}_`] }] },
      },
    });
  }
  return { secrets, objects };
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const isReady = (o: KubeObject) => {
  const c = ((o.status?.['conditions'] ?? []) as { type: string; status: string; observedGeneration?: number }[]).find(
    (x) => x.type === 'Ready',
  );
  return c?.status === 'True' && c.observedGeneration === o.metadata.generation;
};

export async function run(): Promise<void> {
  const log = createLogger({ name: 'bench', level: 'warn' });
  const say = (line: string) => console.log(`bench operator: ${line}`);
  say(`${cpus().length} CPUs; starting PostgreSQL and the control plane`);
  const postgres = await startPostgres({ durable: true });
  const database = `bench_${randomBytes(4).toString('hex')}`;
  await runAdminStatements(postgres.adminUrl, [`create database ${database}`]);
  const databaseUrl = postgres.urlFor(database);
  await migrate(databaseUrl);
  const controlPlane = await startControlPlane({ crdDir: `${root}crds/` });
  const client: KubeClient = createKubeClient(loadKubeconfigFile(controlPlane.kubeconfigPath), { maxSockets: 64 });
  const namespace = 'bench';
  await client.request('POST', '/api/v1/namespaces', { body: { metadata: { name: namespace } } });
  const webhookPort = await freePort();
  let operator: ChildProcess | undefined;
  const listener = new pg.Client({ connectionString: databaseUrl });
  try {
    operator = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', `${root}operator/src/main.ts`, 'run'], {
      env: {
        PATH: process.env['PATH'],
        KUBECONFIG: controlPlane.kubeconfigPath,
        DATABASE_URL: databaseUrl,
        CODEVECTOR_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        CODEVECTOR_OPERATOR_NAMESPACE: namespace,
        CODEVECTOR_WEBHOOK_PORT: String(webhookPort),
        CODEVECTOR_WEBHOOK_BIND: '127.0.0.1',
        CODEVECTOR_CONCURRENCY: process.env['CODEVECTOR_CONCURRENCY'] ?? '16',
        LOG_LEVEL: 'error',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    // The operator is ready once its webhook stamps objects (it probes that itself before leading).
    const deadline = Date.now() + 60_000;
    for (;;) {
      const probe = await client
        .request<KubeObject>('POST', `${group}/namespaces/${namespace}/ratelimits?dryRun=All`, {
          body: {
            apiVersion: 'codevector.dev/v1alpha1',
            kind: 'RateLimit',
            metadata: { name: 'probe' },
            spec: { subject: { kind: 'global' }, requestsPerMinute: 1 },
          },
        })
        .catch(() => null);
      if (probe?.metadata.annotations?.['codevector.dev/changed-by']) break;
      if (Date.now() > deadline) throw new Error('operator webhook did not come up');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    const ready = new Map<string, boolean>();
    const informers = plurals.map((plural) =>
      createInformer({
        client,
        log,
        path: `${group}/namespaces/${namespace}/${plural}`,
        onEvent: (event, object) => {
          const key = `${plural}/${object.metadata.name}`;
          if (event === 'deleted') ready.delete(key);
          else ready.set(key, isReady(object));
        },
      }),
    );
    for (const informer of informers) informer.start();
    await Promise.all(informers.map((i) => i.synced()));

    const { secrets, objects } = manifests(namespace);
    const total = objects.length;
    say(`applying ${total} resources (+${secrets.length} Secrets)`);
    const db = await createPool(databaseUrl);
    const started = performance.now();
    await pool(secrets, 16, async (body) => void (await client.request('POST', `/api/v1/namespaces/${namespace}/secrets`, { body })));
    await pool(
      objects,
      16,
      async ({ plural, body }) => void (await client.request('POST', `${group}/namespaces/${namespace}/${plural}`, { body })),
    );
    const appliedS = (performance.now() - started) / 1000;
    const counts = async () =>
      db.one(sql.type(z.object({ rows: z.number(), audits: z.number() }))`
        select (select count(*) from providers) + (select count(*) from models) + (select count(*) from budgets)
             + (select count(*) from rate_limits) + (select count(*) from secret_rules) as rows,
               (select count(*) from audit_log where action like '%.created') as audits`);
    for (;;) {
      const readyCount = [...ready.values()].filter(Boolean).length;
      if (readyCount === total) {
        const c = await counts();
        if (c.rows === total && c.audits === total) break;
      }
      if (performance.now() - started > 300_000) throw new Error(`not ready after 300 s: ${readyCount}/${total}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const readyS = (performance.now() - started) / 1000;
    say(`1,000 Ready with rows and audit rows in ${readyS.toFixed(2)} s (apply took ${appliedS.toFixed(2)} s)`);

    await listener.connect();
    let notified: (() => void) | undefined;
    listener.on('notification', () => notified?.());
    await listener.query('listen config_changed');
    const latencies: number[] = [];
    for (let i = 0; i < changes; i++) {
      const received = new Promise<void>((resolve) => (notified = resolve));
      const t0 = performance.now();
      await client.request('PATCH', `${group}/namespaces/${namespace}/ratelimits/rl-${i % mix.ratelimits}`, {
        body: { spec: { requestsPerMinute: 10_000 + i } },
        contentType: 'application/merge-patch+json',
      });
      await received;
      latencies.push(performance.now() - t0);
    }
    latencies.sort((a, b) => a - b);
    const audits = await db.oneFirst(
      sql.type(z.object({ n: z.number() }))`select count(*)::int as n from audit_log where action = 'rate_limit.updated'`,
    );
    if (audits !== changes) throw new Error(`expected ${changes} rate_limit.updated rows, found ${audits}`);
    const result = {
      ready_1000_s: Number(readyS.toFixed(3)),
      apply_1000_s: Number(appliedS.toFixed(3)),
      change_p50_ms: Number(percentile(latencies, 50).toFixed(1)),
      change_p99_ms: Number(percentile(latencies, 99).toFixed(1)),
      change_max_ms: Number(latencies.at(-1)!.toFixed(1)),
      changes,
      resources: mix,
      operator_concurrency: Number(process.env['CODEVECTOR_CONCURRENCY'] ?? 16),
      cpus: cpus().length,
      postgres: 'embedded, durable (fsync on)',
      at: new Date().toISOString(),
    };
    await mkdir(`${root}bench/results`, { recursive: true });
    await writeFile(`${root}bench/results/operator.json`, `${JSON.stringify(result, null, 2)}\n`);
    say(`changes: p50 ${result.change_p50_ms} ms, p99 ${result.change_p99_ms} ms; wrote bench/results/operator.json`);
    for (const informer of informers) await informer.stop();
    await db.end();
  } finally {
    await listener.end().catch(() => {});
    operator?.kill('SIGTERM');
    await new Promise((resolve) => (operator && operator.exitCode === null ? operator.once('exit', resolve) : resolve(null)));
    client.close();
    await controlPlane.stop();
    await postgres.stop();
  }
}
