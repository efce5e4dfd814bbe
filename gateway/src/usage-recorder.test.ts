import { createLogger } from '@codevector/core/logger';
import { formatUsd } from '@codevector/core/money';
import { describe, expect, it } from 'vitest';
import { createUsageRecorder, type UsageRow } from './usage-recorder.ts';

const row = (i: number): UsageRow => ({
  requestId: `req-${i}`,
  apiKeyId: i % 2 ? null : '00000000-0000-4000-8000-000000000001',
  userId: null,
  model: 'm',
  provider: 'ns/p',
  endpoint: 'messages',
  inputTokens: i,
  outputTokens: 2 * i,
  cacheReadTokens: 3,
  cacheWriteTokens: 0,
  cost: BigInt(i) * 1_000_000n,
  status: 200,
  outcome: 'ok',
  latencyMs: 5,
  ttfbMs: i % 3 ? null : 4,
  sessionId: i % 5 ? null : `s-${i}`,
  attempt: 1 + (i % 3),
});

describe('usage recorder', () => {
  it('writes every row queued, as it was recorded, in batches of at most maxBatch', async () => {
    const batches: UsageRow[][] = [];
    const pool = {
      query: async (query: { values: readonly unknown[] }) => {
        batches.push(JSON.parse(query.values[0] as string) as UsageRow[]);
      },
    };
    const recorder = createUsageRecorder({
      pool: pool as never,
      logger: createLogger({ name: 'test', level: 'silent' }),
      intervalMs: 60_000,
      maxBatch: 300,
    });
    const rows = Array.from({ length: 1000 }, (_, i) => row(i));
    for (const r of rows) recorder.record(r);
    expect(recorder.stats.queued).toBe(1000);
    await recorder.close();
    expect(batches.map((b) => b.length)).toEqual([300, 300, 300, 100]);
    // Costs travel as exact decimal text ($i per million requests here).
    expect(batches.flat()).toEqual(rows.map((r) => ({ ...r, cost: formatUsd(r.cost) })));
    expect(recorder.stats).toMatchObject({ written: 1000, failed: 0, queued: 0 });
  });

  it('keeps batches whose insert failed (the database away) and writes them, in order, once it answers', async () => {
    const written: UsageRow[][] = [];
    const retries: boolean[] = [];
    let down = true;
    const pool = {
      query: async (query: { sql: string; values: readonly unknown[] }) => {
        if (down) throw new Error('connect ECONNREFUSED');
        retries.push(query.sql.includes('not exists'));
        written.push(JSON.parse(query.values[0] as string) as UsageRow[]);
      },
    };
    const recorder = createUsageRecorder({
      pool: pool as never,
      logger: createLogger({ name: 'test', level: 'silent' }),
      intervalMs: 60_000,
      retryMs: 0,
    });
    for (let i = 0; i < 5; i++) recorder.record(row(i));
    await recorder.flush();
    for (let i = 5; i < 8; i++) recorder.record(row(i));
    await recorder.flush();
    expect(recorder.stats).toMatchObject({ written: 0, dropped: 0 });
    down = false;
    recorder.record(row(8));
    await recorder.close();
    expect(written.flat().map((r) => r.requestId)).toEqual(Array.from({ length: 9 }, (_, i) => `req-${i}`));
    // Retries skip ids already stored (a commit whose answer was lost); a first attempt does not pay for that.
    expect(retries).toEqual([true, true, false]);
    expect(recorder.stats).toMatchObject({ written: 9, dropped: 0 });
  });

  it('drops the oldest rows beyond maxRetained, and counts them', async () => {
    const pool = {
      query: async () => {
        throw new Error('connect ECONNREFUSED');
      },
    };
    const recorder = createUsageRecorder({
      pool: pool as never,
      logger: createLogger({ name: 'test', level: 'silent' }),
      intervalMs: 60_000,
      retryMs: 0,
      maxRetained: 10,
    });
    for (let i = 0; i < 15; i++) recorder.record(row(i));
    await recorder.close();
    expect(recorder.stats.dropped).toBe(5);
  });
});
