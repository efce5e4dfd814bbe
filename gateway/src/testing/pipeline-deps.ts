import { randomBytes } from 'node:crypto';
import { createPool, type DatabasePool } from '@codevector/core/create-pool';
import { createLogger } from '@codevector/core/logger';
import { createRejectionRecorder } from '@codevector/core/rejection-recorder';
import { createSecretBox } from '@codevector/core/secret-box';
import { createBudgetLedger } from '../budget-ledger.ts';
import { createGatewayMetrics } from '../gateway-metrics.ts';
import { createKeyStore } from '../key-store.ts';
import type { ProxyDeps } from '../pipeline/endpoint.ts';
import { createUpstreamHeaderFilter } from '../pipeline/upstream-headers.ts';
import { createRateLimiter } from '../rate-limiter.ts';
import { type SeedConfig, seedGatewayConfig } from '../seed-config.ts';
import { createSnapshotStore } from '../snapshot-store.ts';
import { createOutputEstimator } from '../usage.ts';
import { createUsageRecorder } from '../usage-recorder.ts';

/**
 * The pipeline's real dependencies on the file's database (as main.ts wires them), for tests of
 * one step at a time: seed config, then call the step with these deps.
 */
export async function createPipelineDeps(options: { installationNamespace?: string } = {}): Promise<{
  deps: ProxyDeps;
  pool: DatabasePool;
  seed(config: SeedConfig): Promise<void>;
  close(): Promise<void>;
}> {
  const databaseUrl = process.env['DATABASE_URL'];
  if (!databaseUrl) throw new Error('DATABASE_URL is not set: run this under the vitest db project');
  const pool = await createPool(databaseUrl, { maxPoolSize: 4 });
  const logger = createLogger({ name: 'test', level: 'silent' });
  const secretBox = createSecretBox(randomBytes(32).toString('base64'));
  const snapshots = createSnapshotStore({
    pool,
    databaseUrl,
    secretBox,
    logger,
    installationNamespace: options.installationNamespace ?? 'codevector',
  });
  const deps: ProxyDeps = {
    snapshots,
    keys: createKeyStore({ pool, logger }),
    recorder: createRejectionRecorder(pool, { windowMs: 5 }),
    rateLimiter: createRateLimiter({ pool, logger }),
    budgets: createBudgetLedger({ pool, logger, syncMs: 20 }),
    usage: createUsageRecorder({ pool, logger, intervalMs: 20 }),
    metrics: createGatewayMetrics(),
    outputEstimator: createOutputEstimator(),
    logger,
    upstreamHeaders: createUpstreamHeaderFilter(['x-fake-*']),
  };
  return {
    deps,
    pool,
    async seed(config) {
      await seedGatewayConfig(pool, secretBox, config);
      await snapshots.reload('test seed');
    },
    async close() {
      await snapshots.close();
      await deps.usage.close();
      await deps.budgets.close();
      await deps.rateLimiter.close();
      await pool.end();
    },
  };
}
