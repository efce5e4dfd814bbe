import { createPool } from '@codevector/core/create-pool';
import { createLogger } from '@codevector/core/logger';
import { createRejectionRecorder } from '@codevector/core/rejection-recorder';
import { createSecretBox } from '@codevector/core/secret-box';
import { createBudgetLedger } from './budget-ledger.ts';
import { buildApp, buildOpsApp } from './build-app.ts';
import { loadGatewayConfig } from './config.ts';
import { createGatewayMetrics } from './gateway-metrics.ts';
import { createKeyStore, keysChangedChannel } from './key-store.ts';
import type { BodyLimits } from './pipeline/request-body.ts';
import { createUpstreamHeaderFilter } from './pipeline/upstream-headers.ts';
import { createProviderHealth } from './provider-health.ts';
import { createRateLimiter } from './rate-limiter.ts';
import { createRefusalAggregator } from './refusal-aggregator.ts';
import { createSnapshotStore } from './snapshot-store.ts';
import { createOutputEstimator } from './usage.ts';
import { createUsageRecorder } from './usage-recorder.ts';

/** Starts a gateway from the environment; resolves to a function that shuts it down gracefully. */
export async function startGateway(
  env: Record<string, string | undefined> = process.env,
): Promise<{ port: number; metricsPort: number; close(): Promise<void> }> {
  const config = loadGatewayConfig(env);
  const logger = createLogger({ name: 'gateway', level: config.LOG_LEVEL });
  const pool = await createPool(config.DATABASE_URL, { maxPoolSize: config.DATABASE_POOL_SIZE, applicationName: 'codevector-gateway' });
  const secretBox = createSecretBox(config.CODEVECTOR_ENCRYPTION_KEY);
  const keys = createKeyStore({ pool, logger, ttlMs: config.KEY_CACHE_TTL_MS });
  const snapshots = createSnapshotStore({
    pool,
    databaseUrl: config.DATABASE_URL,
    secretBox,
    logger,
    installationNamespace: config.CODEVECTOR_INSTALLATION_NAMESPACE,
    tenants: config.CODEVECTOR_TENANTS,
    // Revocation and deactivation reach every replica at once, not after the key cache's TTL.
    channels: { [keysChangedChannel]: { onNotify: (userId) => keys.invalidate(userId || undefined), onListen: () => keys.invalidate() } },
  });
  await snapshots.start();
  const recorder = createRejectionRecorder(pool, { windowMs: 5, maxBatch: 1000, maxInFlight: 2 });
  const bodyLimits: BodyLimits = {
    maxBytes: config.BODY_LIMIT_BYTES,
    maxDecodedBytes: config.DECODED_BODY_LIMIT_BYTES,
    maxRatio: config.BODY_MAX_RATIO,
    ratioFloorBytes: Math.min(1024 * 1024, config.DECODED_BODY_LIMIT_BYTES),
    maxDepth: config.JSON_MAX_DEPTH,
    timeoutMs: config.BODY_TIMEOUT_MS,
  };
  const providerHealth = createProviderHealth({ pool, logger });
  const deps = {
    snapshots,
    keys,
    recorder,
    refusals: createRefusalAggregator({ pool, recorder, logger }),
    bodyLimits: { default: bodyLimits },
    upstreamHeaders: createUpstreamHeaderFilter(config.UPSTREAM_HEADER_ALLOW.split(',')),
    rateLimiter: createRateLimiter({ pool, logger }),
    budgets: createBudgetLedger({ pool, logger }),
    usage: createUsageRecorder({ pool, logger }),
    metrics: createGatewayMetrics({ providerHealth }),
    outputEstimator: createOutputEstimator(),
    logger,
  };
  const inflight = { count: 0 };
  const drain = { draining: false };
  const app = buildApp({
    ...deps,
    inflight,
    drain,
    headersTimeoutMs: config.HEADERS_TIMEOUT_MS,
    shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
  });
  const ops = buildOpsApp({ ...deps, drain, inflight });
  await app.listen({ port: config.PORT, host: config.HOST });
  await ops.listen({ port: config.METRICS_PORT, host: config.HOST });
  const port = (app.server.address() as { port: number }).port;
  const metricsPort = (ops.server.address() as { port: number }).port;
  logger.info({ port, metricsPort, host: config.HOST }, 'gateway listening');

  let closing: Promise<void> | null = null;
  return {
    port,
    metricsPort,
    close() {
      closing ??= (async () => {
        logger.info({ drainMs: config.SHUTDOWN_DRAIN_MS }, 'gateway shutting down');
        // Drain first: serve as usual, but close each connection after its response and report
        // not ready, so clients holding keep-alive connections move to other pods.
        drain.draining = true;
        if (config.SHUTDOWN_DRAIN_MS > 0) await new Promise((resolve) => setTimeout(resolve, config.SHUTDOWN_DRAIN_MS));
        // The snapshot in force serves what is in flight; a config change now is not needed, and
        // the database may be stopping too (npm start stops everything on Ctrl-C).
        await snapshots.stopListening();
        // Stop accepting, give in-flight requests (long streams included) up to the grace period,
        // then drop keep-alive connections that would otherwise hold close() open.
        const closed = app.close();
        const graceUntil = Date.now() + config.SHUTDOWN_GRACE_MS;
        while (inflight.count > 0 && Date.now() < graceUntil) await new Promise((resolve) => setTimeout(resolve, 20));
        app.server.closeAllConnections();
        // The requests just cut are billed on their way out (ADR 0114): let their handlers queue
        // usage and spend before the queues' last flush below, or a served request goes unbilled.
        const settleUntil = Date.now() + 5_000;
        while (inflight.count > 0 && Date.now() < settleUntil) await new Promise((resolve) => setTimeout(resolve, 10));
        if (inflight.count > 0) logger.error({ inflight: inflight.count }, 'requests still settling at shutdown; their usage may be lost');
        await closed;
        await ops.close();
        await deps.rateLimiter.close();
        await deps.budgets.close();
        await providerHealth.close();
        await deps.usage.close();
        await deps.refusals.close();
        await deps.recorder.close();
        await deps.keys.close();
        await snapshots.close();
        await pool.end();
        logger.info('gateway stopped');
      })();
      return closing;
    },
  };
}

if (import.meta.main) {
  const gateway = await startGateway();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      gateway.close().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
    });
  }
  // Benchmarks read the gateway's own CPU time from its process.
  process.on('message', (message) => {
    if (message === 'cpu-usage' && process.send) process.send({ cpu: process.cpuUsage(), rss: process.memoryUsage().rss });
  });
}
