import { z } from 'zod';
import { type AuditEntry, auditEntrySchema } from './audit-entry.ts';
import { type DatabasePool, sql } from './create-pool.ts';

export type RejectionRecorder = {
  /** Resolves once the event is committed; rejects if it could not be written. */
  record(entry: AuditEntry): Promise<void>;
  /** Writes what is queued and stops accepting events (graceful shutdown). */
  close(): Promise<void>;
  readonly stats: { batches: number; events: number; failed: number };
};

type Pending = { entry: ReturnType<typeof auditEntrySchema.parse>; resolve: () => void; reject: (error: unknown) => void };

/**
 * Group commit for gateway rejection events (DESIGN §5.4): each caller waits until its event is
 * durable, but events arriving together share one multi-row insert. A batch is written when it
 * reaches `maxBatch` or `windowMs` after its first event, and at most `maxInFlight` inserts run
 * at once, so a flood of rejections costs a bounded number of database round trips.
 */
export function createRejectionRecorder(
  pool: DatabasePool,
  options: { windowMs?: number; maxBatch?: number; maxInFlight?: number } = {},
): RejectionRecorder {
  const windowMs = options.windowMs ?? 5;
  const maxBatch = options.maxBatch ?? 1000;
  const maxInFlight = options.maxInFlight ?? 2;
  let queue: Pending[] = [];
  let timer: NodeJS.Timeout | undefined;
  let inFlight = 0;
  let closed = false;
  const running = new Set<Promise<void>>();
  const stats = { batches: 0, events: 0, failed: 0 };

  function schedule(): void {
    if (queue.length >= maxBatch) {
      flush();
    } else if (!timer) {
      timer = setTimeout(flush, windowMs);
    }
  }

  function flush(): void {
    if (timer) clearTimeout(timer);
    timer = undefined;
    while (queue.length > 0 && inFlight < maxInFlight) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      inFlight++;
      const write = insertBatch(pool, batch)
        .then(
          () => {
            stats.batches++;
            stats.events += batch.length;
            for (const item of batch) item.resolve();
          },
          (error: unknown) => {
            stats.failed += batch.length;
            for (const item of batch) item.reject(error);
          },
        )
        .finally(() => {
          inFlight--;
          running.delete(write);
          if (queue.length > 0) schedule();
        });
      running.add(write);
    }
    // Queue still full while all writers are busy: the finally above re-schedules.
  }

  return {
    stats,
    record(entry) {
      if (closed) return Promise.reject(new Error('rejection recorder is closed'));
      const parsed = auditEntrySchema.parse(entry);
      return new Promise<void>((resolve, reject) => {
        queue.push({ entry: parsed, resolve, reject });
        schedule();
      });
    },
    async close() {
      closed = true;
      while (queue.length > 0 || running.size > 0) {
        flush();
        await Promise.allSettled([...running]);
      }
    },
  };
}

async function insertBatch(pool: DatabasePool, batch: Pending[]): Promise<void> {
  // PostgreSQL refuses NUL in text and jsonb: one client value carrying one would fail the whole
  // group commit, every other caller's event with it. It is replaced, never stored.
  const text = (value: string | null | undefined) =>
    value == null ? null : value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value;
  const rows = batch.map(({ entry }) => [
    text(entry.action),
    text(entry.targetType),
    text(entry.targetId),
    text(entry.targetName),
    text(entry.actor),
    entry.actorSource,
    JSON.stringify(entry.detail).replaceAll('\\u0000', '\\ufffd'),
    text(entry.requestId),
  ]);
  await pool.query(sql.type(noRows)`
    insert into audit_log (action, target_type, target_id, target_name, actor, actor_source, detail, request_id)
    select * from ${sql.unnest(rows, ['text', 'text', 'text', 'text', 'text', 'text', 'jsonb', 'text'])}`);
}

const noRows = z.object({});
