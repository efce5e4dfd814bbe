// Metrics from every service (issue #13 §6), scraped from the real services: a gateway on the
// fake provider, the operator against the real apiserver, the console API. Every query of the
// chart's Grafana dashboard must name a metric family one of them exports (nothing listed by
// hand), and no scrape may carry a key, an email, a raw client model name or an unbounded label.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startTestConsole } from '@codevector/console-api/testing/test-console';
import { createMetricsRegistry, type MetricsServer, startMetricsServer } from '@codevector/core/metrics-server';
import {
  fakeProviders,
  type GatewayFixture,
  sonnetModel,
  startGatewayFixture,
  upstreamKeys,
} from '@codevector/gateway/testing/gateway-fixture';
import { createKubeTestEnv, type KubeTestEnv, ready, until } from '@codevector/operator/testing/kube-test-env';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const runWithInput = (file: string, input: string) =>
  new Promise<string>((resolve, reject) => {
    const child = execFile(file, [], { maxBuffer: 8 << 20 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
    );
    child.stdin!.end(input);
  });
const dashboardFile = fileURLToPath(new URL('../../helm/codevector/dashboards/codevector.json', import.meta.url));
const rawClientModel = 'client-sent-this-7f3a9c';
const email = 'metrics-user@example.com';

let fx: GatewayFixture;
let env: KubeTestEnv;
let operatorMetrics: MetricsServer;
let consoleMetrics: MetricsServer;
let console_: Awaited<ReturnType<typeof startTestConsole>>;
const scrapes: Record<'gateway' | 'operator' | 'console', string> = { gateway: '', operator: '', console: '' };

async function post(model: string, content = 'hi'): Promise<number> {
  const response = await fetch(`${fx.base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': fx.key, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model, max_tokens: 50, messages: [{ role: 'user', content }] }),
  });
  await response.arrayBuffer();
  return response.status;
}

beforeAll(async () => {
  fx = await startGatewayFixture({
    config: (fake) => ({
      providers: fakeProviders(fake, { timeoutSeconds: 10 }),
      models: [
        sonnetModel,
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
      budgets: [{ name: 'pricey', spec: { subject: { kind: 'global' }, amountUSD: 1, period: 'month', models: ['claude-pricey'] } }],
      rateLimits: [{ name: 'all', spec: { subject: { kind: 'eachUser' }, requestsPerMinute: 10_000 } }],
      secretRules: [{ name: 'builtin', spec: { detectors: ['all'] } }],
    }),
    user: { email },
  });
  expect(await post('claude-sonnet-5')).toBe(200);
  expect(await post(rawClientModel)).toBe(404);
  expect(await post('claude-sonnet-5', 'my db is postgres://app:Zq8!vR2mK9xw@db.prod.internal:5432/app')).toBe(400);
  expect(await post('claude-pricey')).toBe(402);

  env = await createKubeTestEnv('e2e-metrics');
  const registry = createMetricsRegistry('operator');
  await env.startOperator({ webhook: false, metricsRegistry: registry });
  operatorMetrics = await startMetricsServer({ registry, port: 0, host: '127.0.0.1' });
  const created = await env.as('platform-admin', 'POST', env.path('budgets'), {
    apiVersion: 'codevector.dev/v1alpha1',
    kind: 'Budget',
    metadata: { name: 'team' },
    spec: { subject: { kind: 'global' }, amountUSD: 50, period: 'month' },
  });
  expect(created.status).toBe(201);
  await until(
    () => env.get('budgets', 'team'),
    (o) => ready(o).status === 'True',
  );
  const sink = await env.as('platform-admin', 'POST', env.path('auditsinks'), {
    apiVersion: 'codevector.dev/v1alpha1',
    kind: 'AuditSink',
    metadata: { name: 'siem' },
    spec: { type: 'otlp', otlp: { endpoint: 'http://127.0.0.1:9/v1/logs' } },
  });
  expect(sink.status).toBe(201);

  const consoleRegistry = createMetricsRegistry('console');
  console_ = await startTestConsole({ metricsRegistry: consoleRegistry });
  consoleMetrics = await startMetricsServer({ registry: consoleRegistry, port: 0, host: '127.0.0.1' });
  const admin = await console_.signIn();
  expect((await admin.request('GET', '/api/users')).status).toBe(200);
  expect((await admin.request('GET', `/api/users/${encodeURIComponent(email)}-not-an-id`)).status).toBeGreaterThanOrEqual(400);

  const scrape = async (port: number) => {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(response.status).toBe(200);
    return response.text();
  };
  // The operator's Budget gauges appear with its first status write.
  await until(
    () => scrape(operatorMetrics.port),
    (text) => text.includes('codevector_budget_spent_usd{') && text.includes('codevector_audit_sink_lag_rows{'),
  );
  scrapes.gateway = await scrape(fx.gateway.metricsPort);
  scrapes.operator = await scrape(operatorMetrics.port);
  scrapes.console = await scrape(consoleMetrics.port);
}, 180_000);

afterAll(async () => {
  await operatorMetrics?.close();
  await consoleMetrics?.close();
  await console_?.close();
  await env?.close();
  await fx?.close();
});

type Family = { type: string; labels: Set<string>; samples: number };

/** Metric families of a Prometheus text exposition: TYPE lines, and the label names of every sample. */
function families(text: string): Map<string, Family> {
  const out = new Map<string, Family>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) out.set(type[1]!, { type: type[2]!, labels: new Set(), samples: 0 });
  }
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? /.exec(line);
    if (!sample) throw new Error(`not an exposition line: ${line}`);
    const name = sample[1]!;
    const family = out.get(name) ?? out.get(name.replace(/_(bucket|sum|count)$/, ''));
    if (!family) throw new Error(`sample without a TYPE: ${line}`);
    family.samples++;
    for (const pair of (sample[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) family.labels.add(pair[1]!);
  }
  return out;
}

/** The series names an exposition offers to PromQL (a histogram's _bucket, _sum and _count). */
function exportedNames(all: Map<string, Family>): Set<string> {
  const names = new Set<string>();
  for (const [name, family] of all) {
    names.add(name);
    if (family.type === 'histogram' || family.type === 'summary')
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

type Panel = { title: string; type: string; targets?: { expr: string }[]; panels?: Panel[] };

describe('metrics and the Grafana dashboard', () => {
  it('serves metrics from the gateway, the operator and the console', () => {
    const gateway = families(scrapes.gateway);
    for (const name of [
      'codevector_gateway_requests_total',
      'codevector_gateway_request_duration_seconds',
      'codevector_gateway_rejections_total',
      'codevector_gateway_tokens_total',
      'codevector_gateway_cost_usd_total',
      'codevector_gateway_secret_scan_seconds',
      'codevector_gateway_upstream_latency_seconds',
      'codevector_gateway_budget_leased_usd',
      'codevector_gateway_rate_limit_leases',
    ]) {
      expect(gateway.get(name)?.samples, name).toBeGreaterThan(0);
    }
    expect(scrapes.gateway).toMatch(/codevector_gateway_rejections_total\{reason="secret_blocked"\} 1/);
    expect(scrapes.gateway).toMatch(/codevector_gateway_rejections_total\{reason="budget_exceeded"\} 1/);
    expect(scrapes.gateway).toMatch(/codevector_gateway_rejections_total\{reason="model_not_found"\} 1/);
    const operator = families(scrapes.operator);
    for (const name of [
      'codevector_operator_reconciles_total',
      'codevector_operator_reconcile_duration_seconds',
      'codevector_operator_queue_depth',
      'codevector_operator_leader',
      'codevector_operator_resources',
      'codevector_budget_spent_usd',
    ]) {
      expect(operator.get(name)?.samples, name).toBeGreaterThan(0);
    }
    expect(operator.has('codevector_operator_reconcile_errors_total')).toBe(true);
    expect(scrapes.operator).toMatch(/codevector_operator_leader 1/);
    expect(scrapes.operator).toMatch(/codevector_audit_sink_failing\{sink="siem"\} 0/);
    expect(scrapes.operator).toMatch(new RegExp(`codevector_budget_limit_usd\\{budget_namespace="${env.namespace}",budget="team"\\} 50`));
    const consoleFamilies = families(scrapes.console);
    expect(consoleFamilies.get('codevector_console_http_requests_total')?.samples).toBeGreaterThan(0);
    expect(scrapes.console).toMatch(/route="\/api\/users"/);
  });

  it('names only exported metrics in every panel query of the dashboard', async () => {
    const dashboard = JSON.parse(await readFile(dashboardFile, 'utf8')) as {
      panels: Panel[];
      templating: { list: { query?: string | { query: string } }[] };
    };
    const exported = new Set([
      ...exportedNames(families(scrapes.gateway)),
      ...exportedNames(families(scrapes.operator)),
      ...exportedNames(families(scrapes.console)),
    ]);
    const queries: { where: string; expr: string }[] = [];
    const walk = (panels: Panel[]) => {
      for (const panel of panels) {
        if (panel.type !== 'row') {
          expect(panel.targets?.length ?? 0, `panel "${panel.title}" has no query`).toBeGreaterThan(0);
          for (const t of panel.targets ?? []) queries.push({ where: panel.title, expr: t.expr });
        }
        walk(panel.panels ?? []);
      }
    };
    walk(dashboard.panels);
    for (const variable of dashboard.templating.list) {
      const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
      if (query?.includes('codevector_')) queries.push({ where: 'templating', expr: query });
    }
    expect(queries.length).toBeGreaterThan(20);
    // Prometheus' own parser (scripts/promql-check.sh) reads each panel query, with Grafana's
    // variables filled in as Grafana does; templating queries are Grafana's label_values(), not PromQL.
    const promql = queries.filter((q) => q.where !== 'templating');
    const grafanaVariables = (expr: string) =>
      expr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m').replaceAll('$namespace', 'codevector');
    const checker = (await run('bash', [fileURLToPath(new URL('../../scripts/promql-check.sh', import.meta.url))])).stdout.trim();
    const parsed = JSON.parse(await runWithInput(checker, JSON.stringify(promql.map((q) => grafanaVariables(q.expr))))) as {
      error?: string;
      metrics: string[];
    }[];
    const missing: string[] = [];
    for (const [i, { where, expr }] of promql.entries()) {
      const result = parsed[i]!;
      expect(result.error, `${where}: ${expr}`).toBeUndefined();
      expect(result.metrics.length, `${where}: ${expr}`).toBeGreaterThan(0);
      for (const name of result.metrics) if (!exported.has(name)) missing.push(`${where}: ${name}`);
    }
    for (const { where, expr } of queries.filter((q) => q.where === 'templating')) {
      for (const [name] of expr.matchAll(/\bcodevector_[a-z0-9_]+\b/g)) if (!exported.has(name)) missing.push(`${where}: ${name}`);
    }
    expect(missing).toEqual([]);
  });

  it('carries no key, email, raw client model name or unbounded label', () => {
    const allowedLabels = new Set([
      // CodeVector's own, each from a fixed or declared set (docs/operations.md, "Metrics").
      'surface',
      'status',
      'reason',
      'model',
      'kind',
      'provider',
      'outcome',
      'le',
      'state',
      'result',
      'change',
      'ready',
      'budget_namespace',
      'budget',
      'sink',
      'method',
      'route',
      // prom-client's process metrics: Node version parts, heap space, GC kind.
      'version',
      'major',
      'minor',
      'patch',
      'space',
      'type',
    ]);
    for (const [service, text] of Object.entries(scrapes)) {
      for (const secret of [
        fx.key,
        fx.key.slice(0, 12),
        upstreamKeys.anthropic,
        upstreamKeys.openai,
        email,
        rawClientModel,
        'Zq8!vR2mK9xw',
      ]) {
        expect(text.includes(secret), `${service} exposes ${secret}`).toBe(false);
      }
      for (const [name, family] of families(text)) {
        for (const label of family.labels) expect(allowedLabels.has(label), `${service} ${name}{${label}}`).toBe(true);
      }
    }
    // Model labels are declared Model names only.
    const models = new Set([...scrapes.gateway.matchAll(/model="([^"]*)"/g)].map((m) => m[1]));
    expect([...models].every((m) => m === 'claude-sonnet-5' || m === 'claude-pricey')).toBe(true);
  });
});

describe('docs/operations.md', () => {
  it('explains every metric the services export', async () => {
    const docs = await readFile(fileURLToPath(new URL('../../docs/operations.md', import.meta.url)), 'utf8');
    const undocumented: string[] = [];
    for (const text of Object.values(scrapes)) {
      for (const name of families(text).keys()) {
        // prom-client's process and Node.js metrics are documented as a group.
        if (/^codevector_(operator|console)_(process|nodejs)_/.test(name)) continue;
        if (!docs.includes(`\`${name}\``)) undocumented.push(name);
      }
    }
    expect(undocumented).toEqual([]);
  });
});
