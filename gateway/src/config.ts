import { loadConfig } from '@codevector/core/load-config';
import { z } from 'zod';
import { parseTenants } from './routing-view.ts';

export const gatewayConfigSchema = z.object({
  DATABASE_URL: z.string().min(1),
  CODEVECTOR_ENCRYPTION_KEY: z.string().refine((value) => Buffer.from(value, 'base64').length === 32, 'must be 32 bytes, base64-encoded'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('127.0.0.1'),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9090),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** How long a looked-up virtual key is trusted before it is checked again (revocation bound). */
  KEY_CACHE_TTL_MS: z.coerce.number().int().positive().default(1000),
  /** How long shutdown waits for requests in flight (streams can be long) before dropping them. */
  SHUTDOWN_GRACE_MS: z.coerce.number().int().nonnegative().default(30_000),
  /** Per route (ADR 0113): bytes sent, bytes after decompression, and the decoded/sent ratio refused as a bomb. */
  BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(32 * 1024 * 1024),
  DECODED_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(32 * 1024 * 1024),
  BODY_MAX_RATIO: z.coerce.number().positive().default(50),
  JSON_MAX_DEPTH: z.coerce.number().int().positive().default(128),
  /** Slow clients: the headers must arrive within HEADERS_TIMEOUT_MS, then the body within BODY_TIMEOUT_MS. */
  HEADERS_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  BODY_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  /** Client headers forwarded upstream on top of the built-in allow-list (comma-separated; `prefix-*` allowed). */
  UPSTREAM_HEADER_ALLOW: z.string().default(''),
  /**
   * On SIGTERM, keep serving this long before closing, each response with `Connection: close` and
   * /readyz failing, so keep-alive clients reconnect elsewhere (the chart's rollouts; 0 = close at once).
   */
  SHUTDOWN_DRAIN_MS: z.coerce.number().int().nonnegative().default(0),
  DATABASE_POOL_SIZE: z.coerce.number().int().positive().default(10),
  /**
   * The namespace whose Budgets, RateLimits and SecretRules govern the traffic of every namespace
   * (ADR 0120); every other namespace's govern only its own Models. Defaults to POD_NAMESPACE
   * (the release namespace in the chart), then `codevector`. Must match the operator's.
   */
  CODEVECTOR_INSTALLATION_NAMESPACE: z.string().min(1).optional(),
  /**
   * Tenant namespaces (ADR 0122): `team-a=group1,group2;team-b=group3`. A listed namespace's
   * Models serve only keys whose owner is in one of its console groups, and its default Model
   * serves their unmatched names. Unset: no tenants, every key reaches every Model.
   */
  CODEVECTOR_TENANTS: z
    .string()
    .optional()
    .transform((value, ctx) => {
      const parsed = parseTenants(value);
      if ('error' in parsed) {
        ctx.addIssue({ code: 'custom', message: parsed.error });
        return z.NEVER;
      }
      return parsed.tenants;
    }),
  /** The pod's namespace (downward API). */
  POD_NAMESPACE: z.string().optional(),
});
export type GatewayConfig = Omit<z.infer<typeof gatewayConfigSchema>, 'CODEVECTOR_INSTALLATION_NAMESPACE'> & {
  CODEVECTOR_INSTALLATION_NAMESPACE: string;
};

/**
 * Parses the gateway's environment once at start-up.
 * @throws CodeVectorError CORE_CONFIG_INVALID naming every bad variable.
 */
export function loadGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const config = loadConfig(gatewayConfigSchema, env);
  return { ...config, CODEVECTOR_INSTALLATION_NAMESPACE: config.CODEVECTOR_INSTALLATION_NAMESPACE ?? config.POD_NAMESPACE ?? 'codevector' };
}
