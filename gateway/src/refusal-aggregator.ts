import type { AuditEntry } from '@codevector/core/audit-entry';
import { type DatabasePool, sql } from '@codevector/core/create-pool';
import type { Logger } from '@codevector/core/logger';
import type { RejectionRecorder } from '@codevector/core/rejection-recorder';
import { z } from 'zod';

/** Who a repeated refusal is counted under, and what makes two refusals "the same". */
export type Aggregation = {
  /** `key:<id>` for a known key, `source:<address>` for an unknown or missing one. */
  subject: string;
  /** Stable text naming the refusal (reason, rule, secret fingerprint, model); never a secret. */
  signature: string;
};

export type RefusalAggregator = {
  /**
   * Records a refusal that may repeat: the first of its (action, subject, signature) in a window
   * is an audit row, durable before this resolves (the rejection recorder's group commit); a
   * repeat in the same window only adds to that row's count in `gateway_refusal_windows`.
   * @throws when the first row could not be written (the caller refuses with GW_EVENT_NOT_RECORDED).
   */
  record(entry: AuditEntry, aggregation: Aggregation): Promise<{ repeat: boolean; firstRequestId: string | null }>;
  /** Writes the counts gathered since the last flush. */
  flush(): Promise<void>;
  close(): Promise<void>;
  readonly stats: { firsts: number; repeats: number; overflowed: number };
};

type Window = {
  windowStart: number;
  action: string;
  subject: string;
  signature: string;
  firstRequestId: string | null;
  count: number;
  unflushed: number;
  written: Promise<void>;
  durable: boolean;
};

const noRows = z.object({});

/**
 * Refused keys and repeated refusals, aggregated (ADR 0113, issue #14 §5): per subject and
 * window (a minute), one audit row and a count. A flood of bad keys from one address is one row a
 * minute; Claude Code retrying a prompt with a secret six times is one `gateway.secret_blocked`
 * row with count 6. The audit row stays append-only (audit_log cannot be updated, ADR 0302); the
 * count lives beside it in `gateway_refusal_windows`, keyed by the window and the first row's
 * request id. At most `maxWindows` distinct windows are tracked at once; past that, refusals of
 * new subjects are counted under one `overflow` subject, so memory and rows stay bounded however
 * many keys or addresses a flood uses.
 */
export function createRefusalAggregator(options: {
  pool: DatabasePool;
  recorder: Pick<RejectionRecorder, 'record'>;
  logger: Logger;
  windowMs?: number;
  flushMs?: number;
  maxWindows?: number;
  clock?: () => number;
}): RefusalAggregator {
  const { pool, recorder, logger } = options;
  const windowMs = options.windowMs ?? 60_000;
  const maxWindows = options.maxWindows ?? 10_000;
  const clock = options.clock ?? Date.now;
  const windows = new Map<string, Window>();
  const stats = { firsts: 0, repeats: 0, overflowed: 0 };
  let flushing: Promise<void> | null = null;

  const timer = setInterval(() => void flush(), options.flushMs ?? 1000);
  timer.unref();

  async function write(batch: Window[]): Promise<void> {
    const rows = batch.map((w) => [new Date(w.windowStart).toISOString(), w.action, w.subject, w.signature, w.firstRequestId, w.unflushed]);
    const counts = batch.map((w) => w.unflushed);
    for (const w of batch) w.unflushed = 0;
    try {
      await pool.query(sql.type(noRows)`
        insert into gateway_refusal_windows (window_start, action, subject, signature, first_request_id, count)
        select * from ${sql.unnest(rows, ['timestamptz', 'text', 'text', 'text', 'text', 'int8'])}
        on conflict (window_start, action, subject, signature)
        do update set count = gateway_refusal_windows.count + excluded.count, last_at = now()`);
    } catch (error) {
      // Kept for the next flush: a count is late, never lost while the gateway runs.
      batch.forEach((w, i) => {
        w.unflushed += counts[i]!;
      });
      throw error;
    }
  }

  async function flushOnce(): Promise<void> {
    try {
      const now = clock();
      const due = [...windows.values()].filter((w) => w.durable && w.unflushed > 0);
      if (due.length > 0) await write(due);
      for (const [key, w] of windows) if (w.windowStart + windowMs <= now && w.unflushed === 0 && w.durable) windows.delete(key);
    } catch (error) {
      logger.warn({ err: error }, 'refusal counts not written');
    }
  }

  function flush(): Promise<void> {
    // One flush at a time; the slot is cleared only by the flush that holds it (a flush with
    // nothing to write finishes synchronously, before an assignment after it would run).
    if (flushing) return flushing;
    const running = flushOnce().finally(() => {
      if (flushing === running) flushing = null;
    });
    flushing = running;
    return running;
  }

  return {
    stats,
    async record(entry, aggregation) {
      const now = clock();
      const windowStart = now - (now % windowMs);
      let { subject, signature } = aggregation;
      let key = `${windowStart}\u0000${entry.action}\u0000${subject}\u0000${signature}`;
      if (!windows.has(key) && windows.size >= maxWindows) {
        stats.overflowed++;
        subject = 'overflow';
        signature = '';
        key = `${windowStart}\u0000${entry.action}\u0000${subject}\u0000`;
      }
      const known = windows.get(key);
      if (known) {
        await known.written;
        known.count++;
        known.unflushed++;
        stats.repeats++;
        return { repeat: true, firstRequestId: known.firstRequestId };
      }
      const window: Window = {
        windowStart,
        action: entry.action,
        subject,
        signature,
        firstRequestId: entry.requestId ?? null,
        count: 1,
        unflushed: 1,
        durable: false,
        written: Promise.resolve(),
      };
      window.written = recorder.record({
        ...entry,
        detail: {
          ...entry.detail,
          aggregation: { subject, windowStart: new Date(windowStart).toISOString(), windowSeconds: windowMs / 1000 },
        },
      });
      windows.set(key, window);
      try {
        await window.written;
      } catch (error) {
        // Not recorded: forget the window, so the next refusal tries to write the row again.
        if (windows.get(key) === window) windows.delete(key);
        throw error;
      }
      window.durable = true;
      stats.firsts++;
      return { repeat: false, firstRequestId: window.firstRequestId };
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
