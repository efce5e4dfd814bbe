import { loadConfig } from '@codevector/core/load-config';
import { z } from 'zod';

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
