import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPool, type DatabasePool, sql } from '@codevector/core/create-pool';
import { migrate } from '@codevector/core/migrate';
import { createSecretBox } from '@codevector/core/secret-box';
import { apiVersion } from '@codevector/crds';
import { type SeedConfig, seedGatewayConfig, seedUserWithKey } from '@codevector/gateway/seed-config';
import { type ControlPlane, startControlPlane } from '@codevector/testbed/control-plane';
import { type FakeProvider, startFakeProvider } from '@codevector/testbed/fake-provider';
import { freePort } from '@codevector/testbed/free-port';
import { type KubeRequest, kubeRequest } from '@codevector/testbed/kube-request';
import { type Postgres, runAdminStatements, startPostgres } from '@codevector/testbed/postgres';
import { z } from 'zod';

/**
 * The fault suite's test bed (docs/reliability.md): every service is a real process started
 * from its main.ts, PostgreSQL is the testbed's real server (one per test file, since tests stop
 * it, fill its disk or cut it off), and the upstream is the fake provider. Nothing is mocked; a
 * fault is done to a process, a disk or a socket.
 */

const root = fileURLToPath(new URL('../../../', import.meta.url));

export type Database = {
  /** The `faults` database, through `port` (a toxiproxy listener may stand in front of it). */
  url: string;
  adminUrl: string;
  port: number;
  dataDir: string;
  /** A pool for seeding and for reading back rows; broken while the server is down. */
  pool: DatabasePool;
  /** Fast shutdown of the server (clients are disconnected); data is kept. */
  stop(): Promise<void>;
  /** Starts the same cluster again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
};

/** Its own PostgreSQL cluster in `dataDir` (a fresh temp folder by default), migrated, with a `faults` database. */
export async function startDatabase(options: { dataDir?: string } = {}): Promise<Database> {
  const parent = options.dataDir ? null : await mkdtemp(path.join(tmpdir(), 'codevector-faults-pg-'));
  const dataDir = options.dataDir ?? path.join(parent!, 'data');
  const port = await freePort();
  let server: Postgres | null = await startPostgres({ dataDir, port, durable: false });
  await runAdminStatements(server.adminUrl, ['create database faults']);
  const url = server.urlFor('faults');
  await migrate(url);
  const pool = await createPool(url, { maxPoolSize: 4, statementTimeoutMs: 10_000 });
  return {
    url,
    adminUrl: server.adminUrl,
    port,
    dataDir,
    pool,
    async stop() {
      await server?.stop();
      server = null;
    },
    async start() {
      server ??= await startPostgres({ dataDir, port, durable: false });
    },
    async close() {
      await pool.end().catch(() => {});
      await server?.stop().catch(() => {});
      server = null;
      if (parent) await rm(parent, { recursive: true, force: true });
    },
  };
}

export const price = { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 };

/**
 * What every gateway in the suite serves: both surfaces on the fake provider, a budget and a rate
 * limit on every model (so each request leases from PostgreSQL), a rate limit of one request a
 * minute on `flood` (refusals on demand, each an audit event), and a secret rule.
 */
export function faultConfig(fake: FakeProvider, options: { timeoutSeconds?: number; budgetUSD?: number } = {}): SeedConfig {
  const timeoutSeconds = options.timeoutSeconds ?? 30;
  const model = (name: string, provider: string) => ({
    name,
    spec: { name, providerRef: { name: provider }, upstreamModel: name, pricing: price },
  });
  return {
    providers: [
      { name: 'anthropic', spec: { type: 'anthropic', baseURL: fake.url, timeoutSeconds }, apiKey: 'sk-ant-upstream' },
      { name: 'openai', spec: { type: 'openai', baseURL: `${fake.url}/v1`, timeoutSeconds }, apiKey: 'sk-openai-upstream' },
    ],
    models: [model('claude-f', 'anthropic'), model('gpt-f', 'openai'), model('flood', 'openai')],
    budgets: [
      {
        name: 'each-user',
        spec: { subject: { kind: 'eachUser' }, amountUSD: options.budgetUSD ?? 1000, period: 'month' },
      },
    ],
    rateLimits: [
      { name: 'each-user', spec: { subject: { kind: 'eachUser' }, requestsPerMinute: 1_000_000, models: ['claude-f', 'gpt-f'] } },
      { name: 'flood', spec: { subject: { kind: 'global' }, requestsPerMinute: 1, models: ['flood'] } },
    ],
    secretRules: [{ name: 'builtin', spec: { detectors: ['all'] } }],
  };
}

export type Seeded = { key: string; encryptionKey: string };

/** Seeds `config` and one user with a key, the way the operator and the console would. */
export async function seed(db: Database, config: SeedConfig): Promise<Seeded> {
  const encryptionKey = randomBytes(32).toString('base64');
  await seedGatewayConfig(db.pool, createSecretBox(encryptionKey), config);
  const { key } = await seedUserWithKey(db.pool, { email: `faults-${randomBytes(3).toString('hex')}@example.com` });
  return { key, encryptionKey };
}

export type ServiceProcess = {
  child: ChildProcess;
  pid: number;
  /** Last lines of its output (logs), for failure messages. */
  output: string[];
  /** Resident memory now, and the peak since start (VmHWM), in MB. */
  memory(): { rssMB: number; peakMB: number };
  alive(): boolean;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): Promise<void>;
};

function spawnService(entry: string, args: string[], env: Record<string, string>): ServiceProcess {
  const child = fork(path.join(root, entry), args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line) output.push(line);
    if (output.length > 300) output.splice(0, output.length - 300);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  liveChildren.add(child);
  void exited.then(() => liveChildren.delete(child));
  return {
    child,
    pid: child.pid!,
    output,
    memory() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
      return { rssMB: kb('VmRSS') / 1024, peakMB: kb('VmHWM') / 1024 };
    },
    alive: () => child.exitCode === null && child.signalCode === null,
    exited,
    async kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = signal === 'SIGKILL' ? undefined : setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// Children die with the test process, even when a test fails before its cleanup.
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

export type GatewayProcess = ServiceProcess & { port: number; base: string; metricsPort: number };

/** A gateway process (gateway/src/main.ts) on `databaseUrl`, ready once /readyz says so. */
export async function spawnGateway(options: {
  databaseUrl: string;
  encryptionKey: string;
  env?: Record<string, string>;
}): Promise<GatewayProcess> {
  const port = await freePort();
  const metricsPort = await freePort();
  const service = spawnService('gateway/src/main.ts', [], {
    DATABASE_URL: options.databaseUrl,
    CODEVECTOR_ENCRYPTION_KEY: options.encryptionKey,
    PORT: String(port),
    METRICS_PORT: String(metricsPort),
    LOG_LEVEL: 'warn',
    SHUTDOWN_GRACE_MS: '2000',
    // The fake provider is steered by x-fake-* headers, which the allow-list keeps from real upstreams.
    UPSTREAM_HEADER_ALLOW: 'x-fake-*',
    ...options.env,
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (!service.alive()) throw new Error(`gateway exited during start:\n${service.output.join('\n')}`);
    const ready = await fetch(`http://127.0.0.1:${metricsPort}/readyz`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`gateway not ready in 30 s:\n${service.output.join('\n')}`);
    await sleep(100);
  }
  return { ...service, port, metricsPort, base: `http://127.0.0.1:${port}` };
}

/** An operator process (`operator/src/main.ts run`) against the cluster of `kubeconfig`. */
export function spawnOperator(env: Record<string, string>): ServiceProcess {
  return spawnService('operator/src/main.ts', ['run'], { LOG_LEVEL: 'info', CODEVECTOR_WEBHOOK: 'false', ...env });
}

export { startFakeProvider };

export type Outcome = {
  status: number;
  requestId: string | null;
  /** The caller-shaped error type (Anthropic `error.type`, OpenAI `error.code`), when an error. */
  errorType: string | null;
  message: string | null;
  retryAfter: string | null;
  /** The body was the caller's JSON error shape (or a 2xx). */
  wellFormed: boolean;
  /** The request failed below HTTP (connection refused or reset, timeout). */
  transport: string | null;
  ms: number;
  bytes: number;
};

export type CallOptions = {
  model?: string;
  stream?: boolean;
  headers?: Record<string, string>;
  text?: string;
  timeoutMs?: number;
  maxTokens?: number;
};

/** One request as an agent sends it, on the surface of its model (`claude-*` Anthropic, else OpenAI chat). */
export async function call(base: string, key: string, options: CallOptions = {}): Promise<Outcome> {
  const model = options.model ?? 'claude-f';
  const anthropic = model.startsWith('claude');
  const body = anthropic
    ? {
        model,
        max_tokens: options.maxTokens ?? 256,
        stream: options.stream ?? false,
        messages: [{ role: 'user', content: options.text ?? 'hello' }],
      }
    : {
        model,
        max_tokens: options.maxTokens ?? 256,
        stream: options.stream ?? false,
        messages: [{ role: 'user', content: options.text ?? 'hello' }],
      };
  const started = performance.now();
  try {
    const response = await fetch(`${base}${anthropic ? '/v1/messages' : '/v1/chat/completions'}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(anthropic ? { 'x-api-key': key, 'anthropic-version': '2023-06-01' } : { authorization: `Bearer ${key}` }),
        ...options.headers,
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    });
    const text = await response.text();
    const outcome: Outcome = {
      status: response.status,
      requestId: response.headers.get('x-codevector-request-id'),
      errorType: null,
      message: null,
      retryAfter: response.headers.get('retry-after'),
      wellFormed: response.status < 400,
      transport: null,
      ms: performance.now() - started,
      bytes: text.length,
    };
    if (response.status >= 400) {
      try {
        const parsed = JSON.parse(text) as { type?: string; error?: { type?: string; code?: string; message?: string } };
        outcome.errorType = (anthropic ? parsed.error?.type : parsed.error?.code) ?? null;
        outcome.message = parsed.error?.message ?? null;
        outcome.wellFormed = anthropic
          ? parsed.type === 'error' && typeof parsed.error?.type === 'string' && typeof parsed.error.message === 'string'
          : typeof parsed.error?.message === 'string' && typeof parsed.error.type === 'string';
      } catch {
        outcome.wellFormed = false;
      }
    }
    return outcome;
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return {
      status: 0,
      requestId: null,
      errorType: null,
      message: null,
      retryAfter: null,
      wellFormed: false,
      transport: cause?.code ?? (error as Error).name,
      ms: performance.now() - started,
      bytes: 0,
    };
  }
}

/** The codes the gateway writes an audit event for, by status (DESIGN §5.4). */
const eventStatuses = new Set([402, 429]);

export type Ledger = {
  requests: number;
  admitted: number;
  refusedWithEvent: number;
  notRecorded: number;
  /** Admitted requests without a usage row, and refusals that said "recorded" without an audit row. */
  lostUsage: number;
  lostEvents: number;
  duplicateUsage: number;
  duplicateEvents: number;
  /** Events written for a request the client was told was not recorded (a commit whose answer was lost). */
  phantomEvents: number;
};

/**
 * Checks every answer the clients saw against what PostgreSQL holds: each answered request
 * (2xx, or an upstream error after admission) has exactly one usage row besides the $0 rows of
 * upstream attempts a Model's fallbacks replaced (outcome `fallback`, ADR 0122); each refusal with an
 * event (402, 429, or a secret block) has exactly one audit row; each 503 "not recorded" has none.
 */
export async function reconcileLedger(pool: DatabasePool, outcomes: readonly Outcome[]): Promise<Ledger> {
  const ids = outcomes.map((o) => o.requestId).filter((id): id is string => id !== null);
  const usage = new Map<string, number>();
  const events = new Map<string, number>();
  const counts = z.object({ request_id: z.string(), n: z.number() });
  for (let i = 0; i < ids.length; i += 5000) {
    const slice = ids.slice(i, i + 5000);
    for (const row of await pool.any(sql.type(counts)`
      select request_id, count(*)::int as n from usage
      where request_id = any(${sql.array(slice, 'text')}) and outcome <> 'fallback' group by request_id`))
      usage.set(row.request_id, row.n);
    for (const row of await pool.any(sql.type(counts)`
      select request_id, count(*)::int as n from audit_log where request_id = any(${sql.array(slice, 'text')}) group by request_id`))
      events.set(row.request_id, row.n);
  }
  const ledger: Ledger = {
    requests: outcomes.length,
    admitted: 0,
    refusedWithEvent: 0,
    notRecorded: 0,
    lostUsage: 0,
    lostEvents: 0,
    duplicateUsage: 0,
    duplicateEvents: 0,
    phantomEvents: 0,
  };
  for (const outcome of outcomes) {
    if (!outcome.requestId) continue;
    const u = usage.get(outcome.requestId) ?? 0;
    const e = events.get(outcome.requestId) ?? 0;
    const secretBlocked = outcome.status === 400 && /secret/i.test(outcome.errorType ?? '');
    if (outcome.status === 503 && outcome.message?.includes('could not record')) {
      ledger.notRecorded++;
      ledger.phantomEvents += e;
    } else if (eventStatuses.has(outcome.status) || secretBlocked) {
      ledger.refusedWithEvent++;
      if (e === 0) ledger.lostEvents++;
      ledger.duplicateEvents += Math.max(0, e - 1);
    } else if (outcome.status < 300 || outcome.status === 502 || outcome.status === 504) {
      ledger.admitted++;
      if (u === 0) ledger.lostUsage++;
      ledger.duplicateUsage += Math.max(0, u - 1);
    }
  }
  return ledger;
}

/** Where the suite's figures go; the runner (run-faults.ts) sums them into bench/results/reliability.json. */
export async function recordFigures(fault: string, figures: Record<string, unknown>): Promise<void> {
  const dir = process.env['CODEVECTOR_FAULT_FIGURES'] ?? path.join(tmpdir(), 'codevector-fault-figures');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, `${fault}.json`), `${JSON.stringify({ fault, ...figures }, null, 2)}\n`);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a truthy value. @throws when `timeoutMs` passes first. */
export async function eventually<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(100);
  }
}

/** Runs `worker` on `concurrency` loops until `until()` says stop; collects every outcome. */
export async function load(concurrency: number, until: () => boolean, worker: (n: number) => Promise<Outcome>): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  let n = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (!until()) outcomes.push(await worker(n++));
    }),
  );
  return outcomes;
}

export type Cluster = {
  controlPlane: ControlPlane;
  namespace: string;
  /** Environment for an operator watching `namespace` of this cluster and writing to `databaseUrl`. */
  operatorEnv(databaseUrl: string, encryptionKey: string, podName: string): Record<string, string>;
  /** A request as the admin (or through `kubeconfig`, e.g. a second apiserver). */
  request<T = KubeObject>(
    method: KubeRequest['method'],
    path: string,
    body?: unknown,
    kubeconfig?: string,
  ): Promise<{ status: number; body: T }>;
  /** Path of a codevector resource (or of the collection without `name`) in the namespace. */
  path(plural: string, name?: string): string;
  close(): Promise<void>;
};

export type KubeObject = {
  metadata: { name: string; uid: string; generation?: number; resourceVersion?: string };
  spec?: Record<string, unknown>;
  status?: { observedGeneration?: number; conditions?: { type: string; status: string; reason?: string }[] };
};

/** A real etcd + kube-apiserver with the CRDs installed, and one namespace for the test. */
export async function startCluster(): Promise<Cluster> {
  const controlPlane = await startControlPlane({ crdDir: path.join(root, 'crds') });
  const namespace = `faults-${randomBytes(3).toString('hex')}`;
  const request = async <T = KubeObject>(method: KubeRequest['method'], p: string, body?: unknown, kubeconfig?: string) => {
    const headers: Record<string, string> = {};
    if (method === 'PATCH') headers['content-type'] = 'application/merge-patch+json';
    return kubeRequest<T>(kubeconfig ?? controlPlane.kubeconfigPath, { method, path: p, body, headers, timeoutMs: 10_000 });
  };
  const created = await request('POST', '/api/v1/namespaces', { metadata: { name: namespace } });
  if (created.status !== 201) throw new Error(`namespace: ${created.status}`);
  return {
    controlPlane,
    namespace,
    operatorEnv: (databaseUrl, encryptionKey, podName) => ({
      DATABASE_URL: databaseUrl,
      CODEVECTOR_ENCRYPTION_KEY: encryptionKey,
      KUBECONFIG: controlPlane.kubeconfigPath,
      CODEVECTOR_WATCH_NAMESPACE: namespace,
      CODEVECTOR_OPERATOR_NAMESPACE: namespace,
      POD_NAME: podName,
      CODEVECTOR_LEASE_DURATION_SECONDS: '4',
      CODEVECTOR_LEASE_RENEW_DEADLINE_SECONDS: '3',
      CODEVECTOR_LEASE_RETRY_SECONDS: '0.5',
      CODEVECTOR_RESYNC_SECONDS: '600',
    }),
    request,
    path: (plural, name) => `/apis/${apiVersion}/namespaces/${namespace}/${plural}${name ? `/${name}` : ''}`,
    close: () => controlPlane.stop(),
  };
}

/** A Secret, a Provider pointing at `baseURL` and `models` Models on it, as a user would apply them. */
export function providerManifests(name: string, baseURL: string): { secret: unknown; provider: unknown } {
  return {
    secret: {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `${name}-key`, labels: { 'codevector.dev/provider-secret': 'true' } },
      stringData: { 'api-key': `sk-${name}` },
    },
    provider: {
      apiVersion,
      kind: 'Provider',
      metadata: { name },
      spec: { type: 'anthropic', baseURL, timeoutSeconds: 30, apiKeySecretRef: { name: `${name}-key`, key: 'api-key' } },
    },
  };
}

export function modelManifest(name: string, provider: string, input = 3): unknown {
  return {
    apiVersion,
    kind: 'Model',
    metadata: { name },
    spec: { name, providerRef: { name: provider }, upstreamModel: name, pricing: { input, output: 15 } },
  };
}

export function isReady(object: KubeObject, generation?: number): boolean {
  const ready = object.status?.conditions?.find((c) => c.type === 'Ready');
  return ready?.status === 'True' && (generation === undefined || object.status?.observedGeneration === generation);
}

const auditCount = z.object({ target_name: z.string(), action: z.string(), n: z.number() });

/** Audit rows of the operator per (target, action) for `namespace`. */
export async function auditRows(pool: DatabasePool, namespace: string): Promise<Map<string, number>> {
  const rows = await pool.any(sql.type(auditCount)`
    select target_name, action, count(*)::int as n from audit_log
    where actor_source <> 'gateway' and target_name like ${`${namespace}/%`} group by target_name, action`);
  return new Map(rows.map((r) => [`${r.target_name.slice(namespace.length + 1)} ${r.action}`, r.n]));
}
