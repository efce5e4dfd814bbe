import { createPool, type DatabasePool, sql, statement } from '@codevector/core/create-pool';
import { createLogger } from '@codevector/core/logger';
import { createTestServiceLogin } from '@codevector/core/test-service-login';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createProviderHealth, isUpstreamFailure, providerLatencyBoundsMs } from './provider-health.ts';

// Two replicas push their last minute of upstream answers into gateway_provider_health as the
// gateway's own database role (migration 0600), with an injected clock.
let login: Awaited<ReturnType<typeof createTestServiceLogin>>;
let pool: DatabasePool;
const logger = createLogger({ name: 'test', level: 'silent' });
beforeAll(async () => {
  login = await createTestServiceLogin('gateway');
  pool = await createPool(login.url);
});
afterAll(async () => {
  await pool?.end();
  await login?.drop();
});

const rowSchema = z.object({
  replica_id: z.string(),
  latency_counts: z.array(z.coerce.number()),
  requests: z.coerce.number(),
  errors: z.coerce.number(),
  last_error_status: z.number().nullable(),
  last_error_outcome: z.string().nullable(),
});
const rows = (ref: string) =>
  pool.any(sql.type(rowSchema)`
    select replica_id, latency_counts, requests, errors, last_error_status, last_error_outcome
    from gateway_provider_health where provider_ref = ${ref} order by replica_id`);

describe('provider health', () => {
  it('pushes each replica’s last minute and keeps its latest failure after the minute has passed', async () => {
    let now = Date.UTC(2026, 0, 1, 12, 0, 0);
    const a = createProviderHealth({ pool, logger, replicaId: 'a', pushMs: 3_600_000, now: () => now });
    const b = createProviderHealth({ pool, logger, replicaId: 'b', pushMs: 3_600_000, now: () => now });
    for (const ms of [20, 40, 400]) {
      a.latency('team/anthropic', ms / 1000);
      a.outcome('team/anthropic', 200, 'ok');
    }
    b.outcome('team/anthropic', 0, 'fallback');
    b.outcome('team/anthropic', 400, 'upstream_error');
    await a.close();
    await b.close();
    const [ra, rb] = await rows('team/anthropic');
    const expected = providerLatencyBoundsMs.map(() => 0).concat(0);
    expected[0] = 1; // 20 ms ≤ 25
    expected[1] = 1; // 40 ms ≤ 50
    expected[4] = 1; // 400 ms ≤ 500
    expect(ra).toMatchObject({ replica_id: 'a', latency_counts: expected, requests: 3, errors: 0, last_error_status: null });
    // A 400 is the client's mistake, not the upstream failing.
    expect(rb).toMatchObject({ replica_id: 'b', requests: 2, errors: 1, last_error_status: 0, last_error_outcome: 'fallback' });

    // A minute later the counts are gone, the failure stays.
    now += 61_000;
    const b2 = createProviderHealth({ pool, logger, replicaId: 'b', pushMs: 3_600_000, now: () => now });
    b2.outcome('team/anthropic', 200, 'ok');
    await b2.close();
    expect((await rows('team/anthropic'))[1]).toMatchObject({
      requests: 1,
      errors: 0,
      last_error_status: 0,
      last_error_outcome: 'fallback',
    });
  });

  it('deletes the rows of replicas that stopped pushing a day ago', async () => {
    const admin = await createPool(process.env['DATABASE_URL']!);
    try {
      await admin.query(statement`
        insert into gateway_provider_health (provider_ref, replica_id, updated_at, latency_bounds_ms, latency_counts)
        values ('team/old', 'gone-replica', now() - interval '25 hours', '{100}', '{0,0}'),
               ('team/old', 'recent-replica', now() - interval '23 hours', '{100}', '{0,0}')`);
      const health = createProviderHealth({ pool, logger, replicaId: 'pruner', pushMs: 3_600_000 });
      health.outcome('team/anthropic', 200, 'ok');
      await health.close();
      expect((await rows('team/old')).map((r) => r.replica_id)).toEqual(['recent-replica']);
    } finally {
      await admin.end();
    }
  });

  it('counts as upstream failures what the Provider answers for, not the client', () => {
    expect([0, 401, 403, 429, 500, 529].map((s) => isUpstreamFailure(s, 'upstream_error'))).toEqual([true, true, true, true, true, true]);
    expect([400, 404, 413, 422].map((s) => isUpstreamFailure(s, 'upstream_error'))).toEqual([false, false, false, false]);
    expect(isUpstreamFailure(504, 'upstream_timeout')).toBe(true);
    expect(isUpstreamFailure(200, 'ok')).toBe(false);
  });
});
