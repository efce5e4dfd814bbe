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

// Built once: a zod object schema costs more to create than the rows it would describe.
const noRows = z.object({});

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
    // One JSON parameter for the whole batch, the rows serialized as they are (their camelCase
    // keys are the record's column names below): no per-row copy, cheaper than sixteen arrays.
    const rows = JSON.stringify(batch);
    try {
      await pool.query(sql.type(noRows)`
        insert into usage (request_id, api_key_id, user_id, model, provider, endpoint, input_tokens, output_tokens,
          cache_read_tokens, cache_write_tokens, cost_usd, status, outcome, latency_ms, ttfb_ms, session_id)
        select "requestId", "apiKeyId", "userId", model, provider, endpoint, "inputTokens", "outputTokens",
          "cacheReadTokens", "cacheWriteTokens", "costUSD", status, outcome, "latencyMs", "ttfbMs", "sessionId"
        from jsonb_to_recordset(${rows}::jsonb) as r("requestId" text, "apiKeyId" uuid, "userId" uuid, model text,
          provider text, endpoint text, "inputTokens" bigint, "outputTokens" bigint, "cacheReadTokens" bigint,
          "cacheWriteTokens" bigint, "costUSD" numeric, status int, outcome text, "latencyMs" int, "ttfbMs" int,
          "sessionId" text)`);
      stats.written += batch.length;
    } catch (error) {
      stats.failed += batch.length;
      logger.error({ err: error, rows: batch.length }, 'usage rows could not be written');
    }
  }

  async function flush(): Promise<void> {
    while (writing) await writing;
    while (queue.length > 0) {
      let batch = queue;
      queue = [];
      if (batch.length > maxBatch) {
        queue = batch.slice(maxBatch);
        batch = batch.slice(0, maxBatch);
      }
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
