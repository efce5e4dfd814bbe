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
});
