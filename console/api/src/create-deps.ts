import { createPool } from '@codevector/core/create-pool';
import type { Logger } from '@codevector/core/logger';
import type { AppDeps } from './app-deps.ts';
import { auditAnchorFromConfig } from './audit/audit-anchor.ts';
import { createLocalIdentityProvider } from './auth/local-identity-provider.ts';
import { createLoginThrottle, type ThrottlePolicies } from './auth/login-throttle.ts';
import { createOidcSignIn } from './auth/oidc-sign-in.ts';
import { createSessionStore } from './auth/session-store.ts';
import type { ConsoleConfig } from './config.ts';

/** Wires the console's dependencies from its config (main.ts, tests and the benchmark share this). */
export async function createDeps(
  config: ConsoleConfig,
  logger: Logger,
  options: { throttle?: ThrottlePolicies } = {},
): Promise<AppDeps & { close(): Promise<void> }> {
  const pool = await createPool(config.DATABASE_URL, { applicationName: 'codevector-console', statementTimeoutMs: 15_000 });
  const exportPool = await createPool(config.DATABASE_URL, {
    applicationName: 'codevector-console-export',
    maxPoolSize: 4,
    statementTimeoutMs: 3_600_000,
  });
  return {
    config,
    pool,
    exportPool,
    logger,
    sessions: createSessionStore(pool, { secret: config.SESSION_SECRET, ttlMs: config.SESSION_TTL_HOURS * 3_600_000 }),
    throttle: createLoginThrottle(pool, { secret: config.SESSION_SECRET, ...(options.throttle ? { policies: options.throttle } : {}) }),
    identityProvider: createLocalIdentityProvider(pool),
    oidc: createOidcSignIn(pool, config),
    anchor: auditAnchorFromConfig(config),
    async close() {
      await pool.end();
      await exportPool.end();
    },
  };
}
