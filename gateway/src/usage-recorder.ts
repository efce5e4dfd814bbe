import { type DatabasePool, sql } from '@codevector/core/create-pool';
import type { Logger } from '@codevector/core/logger';
import { z } from 'zod';

export type UsageRow = {
  requestId: string;
  apiKeyId: string | null;
  userId: string | null;
  model: string;
  provider: string | null;
  endpoint: string;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costUSD: number;
  status: number;
  outcome: string;
  latencyMs: number;
  ttfbMs: number | null;
  sessionId: string | null;
};

export type UsageRecorder = {
  record(row: UsageRow): void;
  /** Writes what is queued. */
  flush(): Promise<void>;
  close(): Promise<void>;
  readonly stats: { written: number; failed: number; queued: number };
};

/**
 * One usage row per proxied request, written in batches (one multi-row insert every
 * `intervalMs`, default 100 ms, or `maxBatch` rows) so accounting costs no database round trip per request.
 * Usage is not a rejection event: a crash can lose the last interval's rows (at most
 * `intervalMs`), which the spend counters do not depend on.
 */
export function createUsageRecorder(options: {
  pool: DatabasePool;
  logger: Logger;
  intervalMs?: number;
  maxBatch?: number;
}): UsageRecorder {
  const { pool, logger } = options;
  const maxBatch = options.maxBatch ?? 2000;
  let queue: UsageRow[] = [];
  const stats = { written: 0, failed: 0, queued: 0 };
  let writing: Promise<void> | null = null;

  async function write(batch: UsageRow[]): Promise<void> {
    // One JSON parameter for the whole batch: cheaper to build than sixteen typed arrays.
    const rows = JSON.stringify(
      batch.map((r) => ({
        request_id: r.requestId,
        api_key_id: r.apiKeyId,
        user_id: r.userId,
        model: r.model,
        provider: r.provider,
        endpoint: r.endpoint,
        input_tokens: r.inputTokens,
        output_tokens: r.outputTokens,
        cache_read_tokens: r.cacheReadTokens,
        cache_write_tokens: r.cacheWriteTokens,
        cost_usd: r.costUSD,
        status: r.status,
        outcome: r.outcome,
        latency_ms: r.latencyMs,
        ttfb_ms: r.ttfbMs,
        session_id: r.sessionId,
      })),
    );
    try {
      await pool.query(sql.type(z.object({}))`
        insert into usage (request_id, api_key_id, user_id, model, provider, endpoint, input_tokens, output_tokens,
          cache_read_tokens, cache_write_tokens, cost_usd, status, outcome, latency_ms, ttfb_ms, session_id)
        select request_id, api_key_id, user_id, model, provider, endpoint, input_tokens, output_tokens,
          cache_read_tokens, cache_write_tokens, cost_usd, status, outcome, latency_ms, ttfb_ms, session_id
        from jsonb_to_recordset(${rows}::jsonb) as r(request_id text, api_key_id uuid, user_id uuid, model text, provider text,
          endpoint text, input_tokens bigint, output_tokens bigint, cache_read_tokens bigint, cache_write_tokens bigint,
          cost_usd numeric, status int, outcome text, latency_ms int, ttfb_ms int, session_id text)`);
      stats.written += batch.length;
    } catch (error) {
      stats.failed += batch.length;
      logger.error({ err: error, rows: batch.length }, 'usage rows could not be written');
    }
  }

  async function flush(): Promise<void> {
    while (writing) await writing;
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      stats.queued = queue.length;
      writing = write(batch);
      await writing;
      writing = null;
    }
  }

  const timer = setInterval(() => {
    if (!writing && queue.length > 0) flush().catch(() => {});
  }, options.intervalMs ?? 100);
  timer.unref();

  return {
    stats,
    record(row) {
      queue.push(row);
      stats.queued = queue.length;
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
