import type { DatabasePool } from '@codevector/core/create-pool';
import type { Logger } from '@codevector/core/logger';
import { sealAuditChain } from './audit-chain.ts';

/**
 * Seals the audit chain in the background every `intervalMs`. Every console replica runs one;
 * the advisory lock inside makes all but one return at once. Returns a stop function that waits
 * for the batch in progress.
 */
export function startAuditSealer(pool: DatabasePool, logger: Logger, intervalMs: number): () => Promise<void> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = sealAuditChain(pool)
      .then((sealed) => {
        if (sealed > 0) logger.debug({ sealed }, 'audit rows sealed');
      })
      .catch((error: unknown) => logger.error({ err: error }, 'audit sealing failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs);
      });
  };
  timer = setTimeout(tick, 0);
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}
