import { randomBytes } from 'node:crypto';
import { createPool, type DatabasePool, sql } from '@codevector/core/create-pool';
import { createLogger } from '@codevector/core/logger';
import { webhookClientCaFor } from '@codevector/testbed/control-plane';
import { kubeRequest } from '@codevector/testbed/kube-request';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { buildOperator, type Operator } from '../build-operator.ts';
import { loadOperatorConfig, type OperatorConfig } from '../config.ts';
import { apiVersion } from '../kinds.ts';
import { createKubeClient, type KubeClient, type KubeObject } from '../kube/kube-client.ts';
import { loadKubeconfigFile } from '../kube/kube-config.ts';
import { unregisterWebhooks } from '../webhook/register-webhooks.ts';
import { startWebhook } from '../webhook/start-webhook.ts';

/** Test support for *.kube.test.ts: a fresh namespace, a real operator in this process, helpers to act as users. */
export type KubeTestEnv = {
  namespace: string;
  db: DatabasePool;
  client: KubeClient;
  config: OperatorConfig;
  /** Starts an operator (and its webhook unless disabled) watching only this namespace; `client` replaces the admin client. */
  startOperator(options?: {
    webhook?: boolean;
    env?: Record<string, string>;
    client?: KubeClient;
    metricsRegistry?: Registry;
  }): Promise<RunningOperator>;
  /** A request to the apiserver as `user` (admin credentials + Impersonate-User). */
  as<T = KubeObject>(
    user: string,
    method: string,
    path: string,
    body?: unknown,
    contentType?: string,
  ): Promise<{ status: number; body: T }>;
  path(plural: string, name?: string): string;
  /** Creates another namespace `<namespace>-<suffix>` (removed with the test's data by nobody: names are random). */
  addNamespace(suffix: string): Promise<string>;
  /** Like `path`, in another namespace. */
  pathIn(namespace: string, plural: string, name?: string): string;
  get(plural: string, name: string): Promise<KubeObject>;
  audit(): Promise<AuditRow[]>;
  close(): Promise<void>;
};

export type RunningOperator = { operator: Operator; stop(options?: { release?: boolean }): Promise<void> };
export type AuditRow = {
  action: string;
  actor: string;
  actor_source: string;
  target_id: string | null;
  target_name: string | null;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary diff shapes; the values are asserted, not trusted.
  detail: { before: any; after: any };
};

export async function createKubeTestEnv(prefix: string): Promise<KubeTestEnv> {
  const kubeconfig = process.env['KUBECONFIG'];
  if (!kubeconfig) throw new Error('KUBECONFIG is not set: run as a kube test');
  const namespace = `${prefix}-${randomBytes(3).toString('hex')}`;
  const client = createKubeClient(loadKubeconfigFile(kubeconfig));
  await client.request('POST', '/api/v1/namespaces', { body: { metadata: { name: namespace } } });
  const db = await createPool(process.env['DATABASE_URL']!, { maxPoolSize: 20 });
  const encryptionKey = randomBytes(32).toString('base64');
  const baseEnv = {
    DATABASE_URL: process.env['DATABASE_URL'],
    CODEVECTOR_ENCRYPTION_KEY: encryptionKey,
    CODEVECTOR_WATCH_NAMESPACE: namespace,
    CODEVECTOR_OPERATOR_NAMESPACE: namespace,
    CODEVECTOR_WEBHOOK_PORT: '0',
    CODEVECTOR_WEBHOOK_BIND: '127.0.0.1',
    CODEVECTOR_WEBHOOK_CONFIG_NAME: `codevector-${namespace}`,
    CODEVECTOR_LEASE_DURATION_SECONDS: '4',
    CODEVECTOR_LEASE_RENEW_DEADLINE_SECONDS: '3',
    CODEVECTOR_LEASE_RETRY_SECONDS: '0.5',
    // The webhook accepts only the apiserver, as in production (ADR 0121).
    CODEVECTOR_WEBHOOK_CLIENT_CA_FILE: webhookClientCaFor(kubeconfig),
  };
  const config = loadOperatorConfig(baseEnv);
  const running: RunningOperator[] = [];
  let webhookName: string | undefined;
  const log = createLogger({ name: 'operator', level: process.env['OPERATOR_TEST_LOG'] ?? 'silent' });

  const env: KubeTestEnv = {
    namespace,
    db,
    client,
    config,
    async startOperator(options = {}) {
      const cfg = loadOperatorConfig({ ...baseEnv, POD_NAME: `op-${randomBytes(3).toString('hex')}`, ...options.env });
      const own = options.client ?? client;
      const webhook = options.webhook === false ? null : await startWebhook({ config: cfg, db, log, client: own, waitUntilCalled: true });
      if (webhook) webhookName = cfg.CODEVECTOR_WEBHOOK_CONFIG_NAME;
      const operator = buildOperator({
        config: cfg,
        db,
        log,
        source: { type: 'kubernetes', client: own },
        metricsRegistry: options.metricsRegistry,
      });
      await operator.start();
      await operator.leading();
      let stopped = false;
      const handle: RunningOperator = {
        operator,
        async stop(stopOptions) {
          if (stopped) return;
          stopped = true;
          await operator.stop(stopOptions ?? { release: true });
          await webhook?.stop();
        },
      };
      running.push(handle);
      return handle;
    },
    async as(user, method, path, body, contentType) {
      // system:masters so the test users pass RBAC; admission still sees the impersonated user name.
      const headers: Record<string, string> = { 'Impersonate-User': user, 'Impersonate-Group': 'system:masters' };
      if (contentType) headers['content-type'] = contentType;
      return kubeRequest(kubeconfig, { method: method as never, path, body, headers });
    },
    path: (plural, name) => env.pathIn(namespace, plural, name),
    pathIn: (ns, plural, name) =>
      plural === 'secrets'
        ? `/api/v1/namespaces/${ns}/secrets${name ? `/${name}` : ''}`
        : `/apis/${apiVersion}/namespaces/${ns}/${plural}${name ? `/${name}` : ''}`,
    async addNamespace(suffix) {
      const name = `${namespace}-${suffix}`;
      await client.request('POST', '/api/v1/namespaces', { body: { metadata: { name } } });
      return name;
    },
    get: (plural, name) => client.request<KubeObject>('GET', env.path(plural, name)),
    audit: () =>
      db.any(
        sql.type(
          z.object({
            action: z.string(),
            actor: z.string(),
            actor_source: z.string(),
            target_id: z.string().nullable(),
            target_name: z.string().nullable(),
            detail: z.any(),
          }),
        )`select action, actor, actor_source, target_id, target_name, detail from audit_log order by id`,
      ) as Promise<AuditRow[]>,
    async close() {
      for (const handle of running) await handle.stop();
      if (webhookName) await unregisterWebhooks(client, webhookName);
      await db.end();
      client.close();
    },
  };
  return env;
}

/** Polls until `ok` holds (or the time is up, returning the last value for the assertion to explain). */
export async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function ready(object: KubeObject): { status?: string; reason?: string; message?: string } {
  const conditions = (object.status?.['conditions'] ?? []) as { type: string; status: string; reason: string; message: string }[];
  return conditions.find((c) => c.type === 'Ready') ?? {};
}
