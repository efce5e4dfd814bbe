import { hostname } from 'node:os';
import { loadConfig } from '@codevector/core/load-config';
import { z } from 'zod';
import { defaultGitOpsControllers, parseGitOpsControllers } from './webhook/change-origin.ts';

const bool = z.enum(['true', 'false', '1', '0', 'on', 'off']).transform((v) => ['true', '1', 'on'].includes(v));
const seconds = (fallback: number) => z.coerce.number().positive().default(fallback);

/** Every environment variable the operator reads (Helm values map 1:1 onto these). */
export const operatorConfigSchema = z.object({
  DATABASE_URL: z.string().min(1, 'DATABASE_URL is required'),
  CODEVECTOR_ENCRYPTION_KEY: z
    .string()
    .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64-encoded')
    .optional(),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** A kubeconfig file or path list (exec credential plugins, token files, certificates: client-node reads them). */
  KUBECONFIG: z.string().optional(),
  /** Use this kubeconfig context instead of its current-context. */
  CODEVECTOR_KUBE_CONTEXT: z.string().optional(),
  KUBERNETES_SERVICE_HOST: z.string().optional(),
  KUBERNETES_SERVICE_PORT: z.string().optional(),
  /**
   * Watch (and admit) only these namespaces, comma-separated; unset = the whole cluster. With a
   * list, the operator needs Secret read access in those namespaces only (the chart's Roles).
   */
  CODEVECTOR_WATCH_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9-]+(,[a-z0-9-]+)*$/, 'namespace names separated by commas')
    .optional(),
  /**
   * The namespace whose Budgets, RateLimits and SecretRules govern every namespace's traffic
   * (ADR 0120); default CODEVECTOR_OPERATOR_NAMESPACE. Must match the gateways'.
   */
  CODEVECTOR_INSTALLATION_NAMESPACE: z.string().min(1).optional(),
  /**
   * Provider baseURLs the installation allows, comma-separated URLs: a baseURL is allowed when its
   * scheme, host and port equal an entry's and its path lies under the entry's path. Unset = any.
   */
  CODEVECTOR_PROVIDER_BASE_URLS: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((u) => u.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.url()))
    .optional(),
  /**
   * `operator migrate` only: login roles to provision after the migrations, one per service, each
   * a member of its group role (docs/adr/0400). A service whose password is unset gets no login
   * (it then connects with whatever DATABASE_URL it is given).
   */
  CODEVECTOR_DB_OPERATOR_USER: z.string().min(1).default('codevector_operator_login'),
  CODEVECTOR_DB_OPERATOR_PASSWORD: z.string().min(16).optional(),
  CODEVECTOR_DB_GATEWAY_USER: z.string().min(1).default('codevector_gateway_login'),
  CODEVECTOR_DB_GATEWAY_PASSWORD: z.string().min(16).optional(),
  CODEVECTOR_DB_CONSOLE_USER: z.string().min(1).default('codevector_console_login'),
  CODEVECTOR_DB_CONSOLE_PASSWORD: z.string().min(16).optional(),
  /**
   * `operator migrate` only: audit rows older than this many days may be pruned by the console's
   * retention (the database keeps the setting, so no serving role can change it); unset = forever.
   */
  CODEVECTOR_AUDIT_RETENTION_DAYS: z.preprocess(
    (v) => (v === '' || v === '0' ? undefined : v),
    z.coerce.number().int().positive().optional(),
  ),
  /** The pod's namespace (downward API); the default for CODEVECTOR_OPERATOR_NAMESPACE. */
  POD_NAMESPACE: z.string().optional(),
  /** Namespace of the Lease and the webhook certificate Secret (the operator's own namespace in a cluster). */
  CODEVECTOR_OPERATOR_NAMESPACE: z.string().optional(),
  POD_NAME: z.string().default(`${hostname()}-${process.pid}`),
  CODEVECTOR_LEADER_ELECTION: bool.default(true),
  CODEVECTOR_LEASE_NAME: z.string().default('codevector-operator'),
  CODEVECTOR_LEASE_DURATION_SECONDS: seconds(15),
  CODEVECTOR_LEASE_RENEW_DEADLINE_SECONDS: seconds(10),
  CODEVECTOR_LEASE_RETRY_SECONDS: seconds(2),
  CODEVECTOR_RESYNC_SECONDS: seconds(300),
  CODEVECTOR_CONCURRENCY: z.coerce.number().int().positive().default(8),
  /**
   * Prometheus metrics, /healthz and /readyz (plain HTTP, every replica, leader or not); unset =
   * not served (local runs start several operators on one host). The chart sets 9464.
   */
  CODEVECTOR_METRICS_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  CODEVECTOR_METRICS_BIND: z.string().default('0.0.0.0'),
  /**
   * Live status refresh: how often the leader checks what Budget spend, RateLimit usage and
   * Provider health come from (live-status-watch.ts), and AuditSink progress. At most 10: Budget
   * status must never be more than 10 s behind the ledger (issue #13, measured by
   * e2e/src/live-status.test.ts).
   */
  CODEVECTOR_BUDGET_STATUS_SECONDS: z.coerce.number().positive().max(10).default(5),
  /** How often the leader looks for sealed audit rows to stream to AuditSinks (milliseconds). */
  CODEVECTOR_AUDIT_DELIVERY_MS: z.coerce.number().int().min(50).max(60_000).default(1000),
  CODEVECTOR_WEBHOOK: bool.default(true),
  CODEVECTOR_WEBHOOK_BIND: z.string().default('0.0.0.0'),
  CODEVECTOR_WEBHOOK_PORT: z.coerce.number().int().min(0).max(65535).default(9443),
  /** How the apiserver reaches the webhook: a URL (outside a cluster) ... */
  CODEVECTOR_WEBHOOK_URL: z.url().optional(),
  /** ... or a Service `namespace/name:port` (in a cluster). */
  CODEVECTOR_WEBHOOK_SERVICE: z
    .string()
    .regex(/^[a-z0-9-]+\/[a-z0-9-]+:\d+$/, 'namespace/name:port')
    .optional(),
  /** Serve the certificate in this folder (tls.crt, tls.key, ca.crt — cert-manager, the chart) instead of making one. */
  CODEVECTOR_WEBHOOK_TLS_DIR: z.string().optional(),
  /** Share one generated certificate between replicas through this Secret in CODEVECTOR_OPERATOR_NAMESPACE. */
  CODEVECTOR_WEBHOOK_CERT_SECRET: z.string().optional(),
  /** How often to check whether the certificate needs renewing (or was renewed by another replica). */
  CODEVECTOR_WEBHOOK_CERT_CHECK_SECONDS: seconds(3600),
  CODEVECTOR_WEBHOOK_CONFIG_NAME: z.string().default('codevector'),
  CODEVECTOR_WEBHOOK_FAILURE_POLICY: z.enum(['Fail', 'Ignore']).default('Fail'),
  /**
   * PEM CA file: the webhook accepts only TLS clients with a certificate it signed — the
   * apiserver, configured through --admission-control-config-file (ADR 0121).
   */
  CODEVECTOR_WEBHOOK_CLIENT_CA_FILE: z.string().optional(),
  /** With the CA: the certificate common names accepted (comma-separated); unset = any it signed. */
  CODEVECTOR_WEBHOOK_CLIENT_NAMES: z.string().optional(),
  /** A file holding the bearer token the apiserver presents (its admission kubeconfig's `token`). */
  CODEVECTOR_WEBHOOK_TOKEN_FILE: z.string().optional(),
  /**
   * Users whose changes are a GitOps tool's, as `argocd=<user>` / `flux=<user>` (comma-separated,
   * `*` for one name segment): their changes are attributed to the Application or Kustomization,
   * repository and revision the object's tracking metadata names (change-origin.ts).
   */
  CODEVECTOR_GITOPS_CONTROLLERS: z
    .string()
    .default(defaultGitOpsControllers)
    .refine(
      (text) => {
        try {
          parseGitOpsControllers(text);
          return true;
        } catch {
          return false;
        }
      },
      { message: 'a comma-separated list of argocd=<user> or flux=<user>' },
    ),
});
export type OperatorConfig = Omit<
  z.infer<typeof operatorConfigSchema>,
  'CODEVECTOR_OPERATOR_NAMESPACE' | 'CODEVECTOR_INSTALLATION_NAMESPACE'
> & {
  CODEVECTOR_OPERATOR_NAMESPACE: string;
  CODEVECTOR_INSTALLATION_NAMESPACE: string;
  /** CODEVECTOR_WATCH_NAMESPACE as a list; undefined = every namespace. */
  watchNamespaces: string[] | undefined;
};

/** @throws CodeVectorError CORE_CONFIG_INVALID listing what is missing or wrong. */
export function loadOperatorConfig(env: Record<string, string | undefined>): OperatorConfig {
  const config = loadConfig(operatorConfigSchema, env);
  const operatorNamespace = config.CODEVECTOR_OPERATOR_NAMESPACE ?? config.POD_NAMESPACE ?? 'codevector';
  return {
    ...config,
    CODEVECTOR_OPERATOR_NAMESPACE: operatorNamespace,
    CODEVECTOR_INSTALLATION_NAMESPACE: config.CODEVECTOR_INSTALLATION_NAMESPACE ?? operatorNamespace,
    watchNamespaces: config.CODEVECTOR_WATCH_NAMESPACE?.split(','),
  };
}
