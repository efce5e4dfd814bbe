import { createPool, type DatabasePool, statement } from '@codevector/core/create-pool';
import { createLogger } from '@codevector/core/logger';
import { createTestServiceLogin } from '@codevector/core/test-service-login';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject } from './kube/kube-client.ts';
import { startLiveStatusWatch } from './live-status-watch.ts';

// The watch queues a resource only when the rows its live status comes from moved, read as the
// operator's own database role.
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

const object = (kind: string, name: string, uid: string, status: Record<string, unknown> = {}): KubeObject =>
  ({ apiVersion: 'codevector.dev/v1alpha1', kind, metadata: { name, namespace: 'ns', uid }, status }) as KubeObject;

describe('live status watch', () => {
  it('queues a Budget, RateLimit or Provider once what its status is computed from changes, and idle ones never', async () => {
    const objects: Record<string, KubeObject[]> = {
      Budget: [object('Budget', 'busy', 'b-busy'), object('Budget', 'idle', 'b-idle')],
      RateLimit: [object('RateLimit', 'rl', 'rl-1')],
      Provider: [object('Provider', 'anthropic', 'p-1')],
    };
    const queued: string[] = [];
    await admin.query(statement`
      insert into budget_windows (budget_uid, subject, window_start, window_end, limit_usd, spent_usd, leased_usd) values
        ('b-busy', 'global', now() - interval '1 day', now() + interval '1 day', 10, 1, 0),
        ('b-idle', 'global', now() - interval '1 day', now() + interval '1 day', 10, 2, 0)`);
    const watch = startLiveStatusWatch({
      db,
      source: { list: (kind) => objects[kind] ?? [] },
      enqueue: (key) => queued.push(key),
      intervalMs: 50,
      log: createLogger({ name: 'test', level: 'silent' }),
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(queued).toEqual([]);
      await admin.query(statement`update budget_windows set spent_usd = spent_usd + 0.5 where budget_uid = 'b-busy'`);
      await admin.query(statement`
        insert into gateway_rate_buckets (limit_uid, subject, bucket_start, requests, tokens)
        values ('rl-1', 'global', date_trunc('second', now()), 1, 10)`);
      await admin.query(statement`
        insert into gateway_provider_health (provider_ref, replica_id, latency_bounds_ms, latency_counts, requests)
        values ('ns/anthropic', 'r1', '{100}', '{1,0}', 1)`);
      await expect
        .poll(() => [...new Set(queued)].sort(), { timeout: 5_000 })
        .toEqual(['Budget/ns/busy', 'Provider/ns/anthropic', 'RateLimit/ns/rl']);
      // A window that ended resets spend without a row changing.
      objects['Budget']![1] = object('Budget', 'idle', 'b-idle', { resetsAt: new Date(Date.now() - 1000).toISOString() });
      await expect.poll(() => queued.includes('Budget/ns/idle'), { timeout: 5_000 }).toBe(true);
    } finally {
      await watch.stop();
    }
  });
});
