import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createPool, type DatabasePool, sql, statement } from './create-pool.ts';
import { createRejectionRecorder } from './rejection-recorder.ts';

let pool: DatabasePool;
beforeAll(async () => {
  pool = await createPool(process.env['DATABASE_URL']!, { maxPoolSize: 4 });
});
afterAll(async () => {
  await pool.end();
});

const event = (i: number) => ({
  action: 'gateway.rate_limit_exceeded',
  targetType: 'rate_limit',
  targetName: 'team-rpm',
  actor: 'dev@example.com',
  actorSource: 'gateway' as const,
  detail: { limit: 60, i },
  requestId: `req-${i}`,
});

describe('createRejectionRecorder', () => {
  it('makes every event durable before its promise resolves, in few inserts', async () => {
    const recorder = createRejectionRecorder(pool, { windowMs: 5, maxBatch: 500 });
    await Promise.all(Array.from({ length: 2000 }, (_, i) => recorder.record(event(i))));
    const n = await pool.oneFirst(sql.type(z.object({ n: z.number() }))`
      select count(*)::int as n from audit_log where action = 'gateway.rate_limit_exceeded'`);
    expect(n).toBe(2000);
    expect(recorder.stats.batches).toBeLessThanOrEqual(20);
    const detail = await pool.oneFirst(sql.type(z.object({ detail: z.unknown() }))`
      select detail from audit_log where request_id = 'req-1999'`);
    expect(detail).toEqual({ limit: 60, i: 1999 });
    await recorder.close();
  });

  it('stores a client value holding NUL (replaced), without failing the rest of its batch', async () => {
    const recorder = createRejectionRecorder(pool, { windowMs: 5 });
    const poisoned = { ...event(5000), targetName: 'gpt\u0000x', detail: { model: 'a\u0000b' }, requestId: 'req-nul' };
    await Promise.all([recorder.record(poisoned), recorder.record({ ...event(5001), requestId: 'req-beside-nul' })]);
    const rows = await pool.any(sql.type(z.object({ target_name: z.string().nullable(), detail: z.unknown() }))`
      select target_name, detail from audit_log where request_id in ('req-nul', 'req-beside-nul') order by request_id desc`);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toEqual({ target_name: 'gpt\uFFFDx', detail: { model: 'a\uFFFDb' } });
    await recorder.close();
  });

  it('rejects the callers of a batch that could not be written', async () => {
    await pool.query(statement`
      create function fail_audit2() returns trigger language plpgsql as $$ begin raise exception 'audit offline'; end $$`);
    await pool.query(statement`create trigger fail_audit2 before insert on audit_log for each row execute function fail_audit2()`);
    const recorder = createRejectionRecorder(pool);
    const results = await Promise.allSettled([recorder.record(event(1)), recorder.record(event(2))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(recorder.stats.failed).toBe(2);
    await pool.query(statement`drop trigger fail_audit2 on audit_log`);
    await recorder.close();
  });

  it('flushes queued events on close and refuses new ones after', async () => {
    const recorder = createRejectionRecorder(pool, { windowMs: 10_000 });
    const pending = recorder.record(event(42));
    await recorder.close();
    await expect(pending).resolves.toBeUndefined();
    await expect(recorder.record(event(43))).rejects.toThrow(/closed/);
  });
});
