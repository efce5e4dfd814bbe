import { createPool, type DatabasePool, statement } from '@codevector/core/create-pool';
import { createTestServiceLogin } from '@codevector/core/test-service-login';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFailure, histogramQuantile, providerHealth, rateLimitUsage } from './live-status.ts';

// What Provider and RateLimit status show, read as the operator's own database role from rows
// the gateways write (migration 0600; gateway_rate_buckets of ADR 0111).
let login: Awaited<ReturnType<typeof createTestServiceLogin>>;
let db: DatabasePool;
let admin: DatabasePool;
beforeAll(async () => {
  login = await createTestServiceLogin('operator');
  db = await createPool(login.url);
  admin = await createPool(process.env['DATABASE_URL']!);
});
afterAll(async () => {
  await db?.end();
  await admin?.end();
  await login?.drop();
});

describe('live status', () => {
  it('adds up the replicas of the last 30 s for latency and counts, and takes the latest failure of any', async () => {
    const now = new Date();
    await admin.query(statement`
      insert into gateway_provider_health
        (provider_ref, replica_id, updated_at, latency_bounds_ms, latency_counts, requests, errors, last_error_at, last_error_status, last_error_outcome)
      values
        ('ns/p', 'a', now(), '{100,200,400}', '{10,0,0,0}', 10, 0, null, null, null),
        ('ns/p', 'b', now(), '{100,200,400}', '{0,8,2,0}', 12, 2, now() - interval '5 seconds', 503, 'upstream_error'),
        ('ns/p', 'dead', now() - interval '5 minutes', '{100,200,400}', '{0,0,0,50}', 50, 50, now() - interval '4 minutes', 0, 'upstream_timeout')`);
    const status = await providerHealth(db, 'ns/p', now);
    expect(status).toMatchObject({
      requestsLastMinute: 22,
      errorsLastMinute: 2,
      lastError: { status: 503, outcome: 'upstream_error', message: 'The upstream answered with HTTP 503.' },
    });
    // 20 answers: 10 ≤ 100 ms, 8 in (100, 200], 2 in (200, 400]. Median 100, p95 300.
    expect(status['latencyP50Ms']).toBe(100);
    expect(status['latencyP95Ms']).toBe(300);
    expect(await providerHealth(db, 'ns/none', now)).toEqual({
      latencyP50Ms: null,
      latencyP95Ms: null,
      requestsLastMinute: 0,
      errorsLastMinute: 0,
      lastError: null,
    });
  });

  it('shows the busiest subject of the sliding minute', async () => {
    const now = new Date();
    await admin.query(statement`
      insert into gateway_rate_buckets (limit_uid, subject, bucket_start, requests, tokens) values
        ('rl', 'user:a', date_trunc('second', now()) - interval '30 seconds', 5, 1000),
        ('rl', 'user:a', date_trunc('second', now()), 3, 0),
        ('rl', 'user:b', date_trunc('second', now()) - interval '10 seconds', 1, 5000),
        ('rl', 'user:c', date_trunc('second', now()) - interval '90 seconds', 100, 100000)`);
    expect(await rateLimitUsage(db, 'rl', now)).toEqual({ requestsLastMinute: 8, tokensLastMinute: 5000, activeSubjects: 2 });
    expect(await rateLimitUsage(db, 'none', now)).toEqual({ requestsLastMinute: 0, tokensLastMinute: 0, activeSubjects: 0 });
  });

  it('interpolates quantiles like histogram_quantile and words failures without the upstream’s text', () => {
    expect(histogramQuantile(0.5, [10, 20], [0, 0, 0])).toBeNull();
    expect(histogramQuantile(0.5, [10, 20], [2, 2, 0])).toBe(10);
    expect(histogramQuantile(0.99, [10, 20], [0, 0, 5])).toBe(20);
    expect(describeFailure(401, 'upstream_error')).toBe("The upstream refused the Provider's API key (HTTP 401).");
    expect(describeFailure(0, 'fallback')).toMatch(/could not be reached/);
  });
});
