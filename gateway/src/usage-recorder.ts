import { type DatabasePool, sql, statement } from '@codevector/core/create-pool';
import type { Logger } from '@codevector/core/logger';
import { formatUsd, type Money } from '@codevector/core/money';

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
  /** Exact cost (picodollars); written as its decimal text. */
  cost: Money;
  status: number;
  outcome: string;
  latencyMs: number;
  ttfbMs: number | null;
  sessionId: string | null;
  /** Which upstream attempt of the request this row is (1 unless a Model's fallbacks were used). */
  attempt?: number;
};

export type UsageRecorder = {
  record(row: UsageRow): void;
  /** Writes what is queued. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** `failed`: rows whose insert failed (they are retried); `dropped`: rows given up on, over `maxRetained`. */
  readonly stats: { written: number; failed: number; queued: number; dropped: number };
};

/**
 * One usage row per proxied request, written in batches (one multi-row insert every
 * `intervalMs`, default 100 ms, or `maxBatch` rows) so accounting costs no database round trip per request.
 * Usage is not a rejection event: a crash can lose the last interval's rows (at most
 * `intervalMs`), which the spend counters do not depend on.
 *
 * A batch whose insert fails (PostgreSQL restarting, cut off, out of disk) is kept and retried
 * every `retryMs`, oldest first, up to `maxRetained` rows in memory; beyond that the oldest are
 * dropped and counted. A retry skips request ids already stored since the first attempt, so a
 * batch whose commit succeeded but whose answer was lost is not written twice (fault suite,
 * "PostgreSQL stopped and restarted during traffic").
 */
export function createUsageRecorder(options: {
  pool: DatabasePool;
  logger: Logger;
  intervalMs?: number;
  maxBatch?: number;
  retryMs?: number;
  maxRetained?: number;
}): UsageRecorder {
  const { pool, logger } = options;
  const maxBatch = options.maxBatch ?? 2000;
  const retryMs = options.retryMs ?? 500;
  const maxRetained = options.maxRetained ?? 100_000;
  const stats = { written: 0, failed: 0, queued: 0, dropped: 0 };
  // Failed batches with the time of their first attempt (minus a minute for clock skew between
  // this replica and the database, whose now() stamps usage.at).
  let retries: { rows: UsageRow[]; since: string }[] = [];
  let retainedRows = 0;
  let retryAt = 0;
  let writing: Promise<void> | null = null;
  // Rows wait here up to intervalMs, long enough to outlive several young-generation GCs; kept as
  // columns (numbers in a Float64Array, strings as references mostly shared between rows), a
  // waiting row costs the GC its request id and a few slots, not a sixteen-field object.
  let queue = createColumns(256);

  /** Inserts a batch; `since` marks a retry, which skips request ids stored since then. */
  async function write(batch: UsageRow[], since?: string): Promise<boolean> {
    // One JSON parameter for the whole batch, the rows serialized as they are (their camelCase
    // keys are the record's column names below): cheaper to build than sixteen typed arrays.
    // `json`, not `jsonb`: read once, so PostgreSQL need not build the binary form (~20% less of
    // its CPU per row).
    // Costs go as decimal strings, which json_to_recordset reads into numeric exactly.
    const rows = JSON.stringify(batch, (key, value) => (key === 'cost' ? formatUsd(value as Money) : value));
    const notStored = since
      ? sql.fragment`where not exists (select 1 from usage u where u.at >= ${since}::timestamptz and u.request_id = r."requestId" and u.attempt = r.attempt)`
      : sql.fragment``;
    const firstTry = new Date(Date.now() - 60_000).toISOString();
    try {
      await pool.query(statement`
        insert into usage (request_id, api_key_id, user_id, model, provider, endpoint, input_tokens, output_tokens,
          cache_read_tokens, cache_write_tokens, cost_usd, status, outcome, latency_ms, ttfb_ms, session_id, attempt)
        select "requestId", "apiKeyId", "userId", model, provider, endpoint, "inputTokens", "outputTokens",
          "cacheReadTokens", "cacheWriteTokens", cost, status, outcome, "latencyMs", "ttfbMs", "sessionId", attempt
        from json_to_recordset(${rows}::json) as r("requestId" text, "apiKeyId" uuid, "userId" uuid, model text,
          provider text, endpoint text, "inputTokens" bigint, "outputTokens" bigint, "cacheReadTokens" bigint,
          "cacheWriteTokens" bigint, cost numeric, status int, outcome text, "latencyMs" int, "ttfbMs" int,
          "sessionId" text, attempt smallint) ${notStored}`);
      stats.written += batch.length;
      return true;
    } catch (error) {
      stats.failed += batch.length;
      logger.error({ err: error, rows: batch.length, retry: since !== undefined }, 'usage rows could not be written; kept for retry');
      retain(batch, since ?? firstTry);
      retryAt = Date.now() + retryMs;
      return false;
    }
  }

  function retain(rows: UsageRow[], since: string): void {
    retries.push({ rows, since });
    retainedRows += rows.length;
    while (retainedRows > maxRetained && retries.length > 0) {
      const oldest = retries.shift()!;
      retainedRows -= oldest.rows.length;
      stats.dropped += oldest.rows.length;
      logger.error({ rows: oldest.rows.length }, 'usage rows dropped: too many waiting for the database');
    }
  }

  async function retryFailed(force: boolean): Promise<void> {
    if (retries.length === 0 || (!force && Date.now() < retryAt)) return;
    const pending = retries;
    retries = [];
    retainedRows = 0;
    for (let i = 0; i < pending.length; i++) {
      const { rows, since } = pending[i]!;
      writing = write(rows, since).then(() => {});
      await writing;
      writing = null;
      // Still failing: keep the rest for the next attempt, in order.
      if (retries.length > 0) {
        for (const rest of pending.slice(i + 1)) retain(rest.rows, rest.since);
        return;
      }
    }
  }

  async function flush(force = false): Promise<void> {
    while (writing) await writing;
    await retryFailed(force);
    while (queue.length > 0) {
      const taken = queue;
      queue = createColumns(Math.max(256, taken.length));
      stats.queued = 0;
      for (let start = 0; start < taken.length; start += maxBatch) {
        writing = write(rowsOf(taken, start, Math.min(taken.length, start + maxBatch))).then(() => {});
        await writing;
        writing = null;
      }
    }
  }

  const timer = setInterval(() => {
    if (!writing && (queue.length > 0 || retries.length > 0)) flush().catch(() => {});
  }, options.intervalMs ?? 100);
  timer.unref();

  return {
    stats,
    record(row) {
      if (queue.length + retainedRows >= maxRetained) {
        stats.dropped++;
        return;
      }
      if (queue.length === queue.requestId.length) queue = grown(queue);
      const i = queue.length++;
      queue.requestId[i] = row.requestId;
      queue.apiKeyId[i] = row.apiKeyId;
      queue.userId[i] = row.userId;
      queue.model[i] = row.model;
      queue.provider[i] = row.provider;
      queue.endpoint[i] = row.endpoint;
      queue.outcome[i] = row.outcome;
      queue.sessionId[i] = row.sessionId;
      const n = queue.numbers;
      const at = i * numberFields;
      n[at] = row.inputTokens;
      n[at + 1] = row.outputTokens;
      n[at + 2] = row.cacheReadTokens;
      n[at + 3] = row.cacheWriteTokens;
      queue.costs[i] = row.cost;
      n[at + 4] = row.attempt ?? 1;
      n[at + 5] = row.status;
      n[at + 6] = row.latencyMs;
      n[at + 7] = row.ttfbMs ?? Number.NaN;
      stats.queued = queue.length;
    },
    flush: () => flush(true),
    async close() {
      clearInterval(timer);
      await flush(true);
    },
  };
}

const numberFields = 8;
type Columns = {
  length: number;
  requestId: string[];
  apiKeyId: (string | null)[];
  userId: (string | null)[];
  model: string[];
  provider: (string | null)[];
  endpoint: string[];
  outcome: string[];
  sessionId: (string | null)[];
  /** inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens, attempt, status, latencyMs, ttfbMs (NaN: null). */
  numbers: Float64Array;
  /** Exact costs; a request costs far less than the 9.2 million dollars an int64 of picodollars holds. */
  costs: BigInt64Array;
};

function createColumns(capacity: number): Columns {
  const strings = <T>() => new Array<T>(capacity);
  return {
    length: 0,
    requestId: strings(),
    apiKeyId: strings(),
    userId: strings(),
    model: strings(),
    provider: strings(),
    endpoint: strings(),
    outcome: strings(),
    sessionId: strings(),
    numbers: new Float64Array(capacity * numberFields),
    costs: new BigInt64Array(capacity),
  };
}

function grown(columns: Columns): Columns {
  const next = createColumns(columns.requestId.length * 2);
  const copy = <T>(from: T[], to: T[]) => {
    for (let i = 0; i < columns.length; i++) to[i] = from[i]!;
  };
  copy(columns.requestId, next.requestId);
  copy(columns.apiKeyId, next.apiKeyId);
  copy(columns.userId, next.userId);
  copy(columns.model, next.model);
  copy(columns.provider, next.provider);
  copy(columns.endpoint, next.endpoint);
  copy(columns.outcome, next.outcome);
  copy(columns.sessionId, next.sessionId);
  next.numbers.set(columns.numbers.subarray(0, columns.length * numberFields));
  next.costs.set(columns.costs.subarray(0, columns.length));
  next.length = columns.length;
  return next;
}

function rowsOf(columns: Columns, from: number, to: number): UsageRow[] {
  const rows: UsageRow[] = [];
  const n = columns.numbers;
  for (let i = from; i < to; i++) {
    const at = i * numberFields;
    const ttfb = n[at + 7]!;
    rows.push({
      requestId: columns.requestId[i]!,
      apiKeyId: columns.apiKeyId[i]!,
      userId: columns.userId[i]!,
      model: columns.model[i]!,
      provider: columns.provider[i]!,
      endpoint: columns.endpoint[i]!,
      inputTokens: n[at]!,
      outputTokens: n[at + 1]!,
      cacheReadTokens: n[at + 2]!,
      cacheWriteTokens: n[at + 3]!,
      cost: columns.costs[i]!,
      status: n[at + 5]!,
      outcome: columns.outcome[i]!,
      latencyMs: n[at + 6]!,
      ttfbMs: Number.isNaN(ttfb) ? null : ttfb,
      sessionId: columns.sessionId[i]!,
      attempt: n[at + 4]!,
    });
  }
  return rows;
}
