import { fileURLToPath } from 'node:url';
import { createLogger } from '@codevector/core/logger';
import { createMetricsRegistry, startMetricsServer } from '@codevector/core/metrics-server';
import { startAuditAnchorer } from './audit/audit-anchor.ts';
import { startAuditSealer } from './audit/audit-sealer.ts';
import { ensureBootstrapAdmin } from './auth/bootstrap-admin.ts';
import { buildApp } from './build-app.ts';
import { loadConsoleConfig } from './config.ts';
import { createDeps } from './create-deps.ts';

const config = loadConsoleConfig({
  CONSOLE_WEB_DIST: fileURLToPath(new URL('../../web/dist/', import.meta.url)),
  ...process.env,
});
const logger = createLogger({ name: 'console', level: config.LOG_LEVEL });
const deps = await createDeps(config, logger);
if (config.CODEVECTOR_BOOTSTRAP_ADMIN_EMAIL && config.CODEVECTOR_BOOTSTRAP_ADMIN_PASSWORD) {
  const outcome = await ensureBootstrapAdmin(
    deps.pool,
    config.CODEVECTOR_BOOTSTRAP_ADMIN_EMAIL,
    config.CODEVECTOR_BOOTSTRAP_ADMIN_PASSWORD,
    { reset: config.CODEVECTOR_BOOTSTRAP_ADMIN_RESET === 'true' },
  );
  logger.info({ email: config.CODEVECTOR_BOOTSTRAP_ADMIN_EMAIL, outcome }, 'bootstrap admin checked');
}
const metricsRegistry = createMetricsRegistry('console');
const app = await buildApp(deps, { metricsRegistry });
// Metrics on their own port: the console's port faces users through the ingress.
const metricsServer =
  config.METRICS_PORT === undefined
    ? null
    : await startMetricsServer({ registry: metricsRegistry, port: config.METRICS_PORT, host: config.METRICS_HOST });
const stopSealer =
  config.AUDIT_SEALER_ENABLED === 'true' ? startAuditSealer(deps.pool, logger, config.AUDIT_SEALER_INTERVAL_MS) : async () => {};
const stopAnchorer = deps.anchor
  ? startAuditAnchorer(deps.pool, deps.anchor, logger, {
      intervalMs: config.AUDIT_CHECKPOINT_INTERVAL_MS,
      retentionIntervalMs: config.AUDIT_RETENTION_INTERVAL_MS,
    })
  : async () => {};
if (!deps.anchor)
  logger.warn('audit checkpoints are off (AUDIT_CHECKPOINT_DIR and a key unset): the chain is not anchored outside the database');
await app.listen({ port: config.PORT, host: config.HOST });

let closing = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    // Stop taking requests, let in-flight ones (exports included) finish, then release the pools.
    void (async () => {
      await app.close();
      await metricsServer?.close();
      await stopSealer();
      await stopAnchorer();
      await deps.close();
      process.exit(0);
    })().catch((error: unknown) => {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    });
  });
}
