import { hostname } from 'node:os';
import { loadConfig } from '@codevector/core/load-config';
import { z } from 'zod';

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
  /** Watch (and admit) one namespace only; unset = the whole cluster. */
  CODEVECTOR_WATCH_NAMESPACE: z.string().optional(),
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
  CODEVECTOR_BUDGET_STATUS_SECONDS: seconds(30),
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
});
export type OperatorConfig = Omit<z.infer<typeof operatorConfigSchema>, 'CODEVECTOR_OPERATOR_NAMESPACE'> & {
  CODEVECTOR_OPERATOR_NAMESPACE: string;
};

/** @throws CodeVectorError CORE_CONFIG_INVALID listing what is missing or wrong. */
export function loadOperatorConfig(env: Record<string, string | undefined>): OperatorConfig {
  const config = loadConfig(operatorConfigSchema, env);
  return { ...config, CODEVECTOR_OPERATOR_NAMESPACE: config.CODEVECTOR_OPERATOR_NAMESPACE ?? config.POD_NAMESPACE ?? 'codevector' };
}
