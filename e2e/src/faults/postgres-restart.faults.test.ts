// Fault 1: PostgreSQL stopped and started again while two kinds of traffic run: agents through a
// gateway process (budgets and rate limits lease from PostgreSQL, usage rows and rejection events
// are written to it) and CR changes through the apiserver to an operator process.
import { sql } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  auditRows,
  type Cluster,
  call,
  type Database,
  eventually,
  faultConfig,
  type GatewayProcess,
  isReady,
  type KubeObject,
  load,
  modelManifest,
  type Outcome,
  providerManifests,
  reconcileLedger,
  recordFigures,
  type Seeded,
  type ServiceProcess,
  seed,
  sleep,
  spawnGateway,
  spawnOperator,
  startCluster,
  startDatabase,
  startFakeProvider,
} from './fault-bed.ts';

let db: Database;
let cluster: Cluster;
let fake: Awaited<ReturnType<typeof startFakeProvider>>;
let seeded: Seeded;
let gateway: GatewayProcess;
let operator: ServiceProcess;

beforeAll(async () => {
  [db, cluster, fake] = await Promise.all([startDatabase(), startCluster(), startFakeProvider({ record: false })]);
  seeded = await seed(db, faultConfig(fake));
  gateway = await spawnGateway({ databaseUrl: db.url, encryptionKey: seeded.encryptionKey });
  operator = spawnOperator(cluster.operatorEnv(db.url, seeded.encryptionKey, 'op-1'));
});
afterAll(async () => {
  await gateway?.kill('SIGTERM');
  await operator?.kill('SIGTERM');
  await Promise.all([cluster?.close(), fake?.close()]);
  await db?.close();
});

type Timed = Outcome & { at: number };

describe('PostgreSQL stopped and restarted during traffic', () => {
  it('loses and duplicates no usage row or rejection event, fails closed while away, and both services recover by themselves', async () => {
    // The operator's starting point: a Provider and a Model, reconciled.
    const { secret, provider } = providerManifests('op-anthropic', fake.url);
    expect((await cluster.request('POST', `/api/v1/namespaces/${cluster.namespace}/secrets`, secret)).status).toBe(201);
    expect((await cluster.request('POST', cluster.path('providers'), provider)).status).toBe(201);
    expect((await cluster.request('POST', cluster.path('models'), modelManifest('claude-op', 'op-anthropic'))).status).toBe(201);
    await eventually('model reconciled', async () => isReady((await cluster.request('GET', cluster.path('models', 'claude-op'))).body));

    const t0 = Date.now();
    let stopTraffic = false;
    const traffic = load(
      4,
      () => stopTraffic,
      async (n): Promise<Timed> => {
        const at = Date.now() - t0;
        // Mixed: Anthropic and OpenAI, streaming and not, and a refusal with an audit event every
        // fifth request (a one-per-minute rate limit on `flood`).
        const kind = n % 5;
        const outcome =
          kind === 4
            ? await call(gateway.base, seeded.key, { model: 'flood', timeoutMs: 15_000 })
            : await call(gateway.base, seeded.key, { model: kind % 2 ? 'gpt-f' : 'claude-f', stream: kind >= 2, timeoutMs: 15_000 });
        if (outcome.status === 0 || outcome.status === 503) await sleep(50);
        return { ...outcome, at };
      },
    ) as Promise<Timed[]>;

    await sleep(3000);
    const downAt = Date.now() - t0;
    await db.stop();
    // While the database is away: a new Model and a change to the existing one.
    expect((await cluster.request('POST', cluster.path('models'), modelManifest('claude-op2', 'op-anthropic'))).status).toBe(201);
    const patched = await cluster.request('PATCH', cluster.path('models', 'claude-op'), { spec: { pricing: { input: 4, output: 15 } } });
    expect(patched.status).toBe(200);
    // Longer than a budget lease lives (10 s), so the gateway has nothing left to admit from.
    await sleep(12_000);
    const upAt = Date.now() - t0;
    await db.start();
    await sleep(8000);
    stopTraffic = true;
    const outcomes = await traffic;

    const during = outcomes.filter((o) => o.at > downAt + 10_000 && o.at + o.ms < upAt);
    const after = outcomes.filter((o) => o.at > upAt);
    const firstServed = after.find((o) => o.status === 200);
    // Everything queued while away is written after: give the recorders their retry interval.
    await sleep(3000);
    const ledger = await reconcileLedger(db.pool, outcomes);

    // The operator caught up: the new Model and the change, one audit row each.
    const model2 = await eventually(
      'claude-op2 reconciled',
      async () => {
        const object = (await cluster.request<KubeObject>('GET', cluster.path('models', 'claude-op2'))).body;
        return isReady(object) ? object : null;
      },
      30_000,
    );
    await eventually('claude-op generation 2 reconciled', async () =>
      isReady((await cluster.request('GET', cluster.path('models', 'claude-op'))).body, 2),
    );
    const audit = await auditRows(db.pool, cluster.namespace);
    const stored = await db.pool.oneFirst(sql.type(z.object({ p: z.number() }))`
      select (spec->'pricing'->>'input')::float8 as p from models where namespace = ${cluster.namespace} and name = 'claude-op'`);
    // ... and the gateway, whose LISTEN connection died with the server, serves the new model.
    const viaGateway = await eventually('gateway serves claude-op2', async () => {
      const outcome = await call(gateway.base, seeded.key, { model: 'claude-op2' });
      return outcome.status === 200 ? outcome : null;
    });

    const statuses: Record<string, number> = {};
    for (const o of outcomes) statuses[o.status] = (statuses[o.status] ?? 0) + 1;
    await recordFigures('postgres-restart', {
      requests: outcomes.length,
      statuses,
      ledger,
      lost_events: ledger.lostEvents + ledger.lostUsage,
      duplicate_audit_rows: ledger.duplicateEvents + [...audit.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0),
      duplicate_usage_rows: ledger.duplicateUsage,
      down_seconds: (upAt - downAt) / 1000,
      admitted_while_away_past_lease: during.filter((o) => o.status === 200).length,
      refused_while_away_past_lease: during.filter((o) => o.status !== 200).length,
      recovery_seconds: firstServed ? (firstServed.at + firstServed.ms - upAt) / 1000 : null,
      budget_402_seen: outcomes.filter((o) => o.status === 402).length,
      budget_402_examples: outcomes
        .filter((o) => o.status === 402)
        .slice(0, 3)
        .map((o) => ({ at: o.at, ms: o.ms, message: o.message })),
    });

    expect(gateway.alive(), gateway.output.join('\n')).toBe(true);
    expect(operator.alive(), operator.output.join('\n')).toBe(true);
    expect(ledger, JSON.stringify(statuses)).toMatchObject({ lostUsage: 0, lostEvents: 0, duplicateUsage: 0, duplicateEvents: 0 });
    expect(ledger.admitted).toBeGreaterThan(50);
    expect(ledger.refusedWithEvent).toBeGreaterThan(10);
    // Fails closed: once its leases lapsed nothing is admitted, and every refusal is a
    // retryable 503 in the caller's shape with retry-after, never a 402 "budget used up".
    expect(during.length).toBeGreaterThan(10);
    expect(during.filter((o) => o.status === 200)).toHaveLength(0);
    for (const o of during) {
      expect(o.status, JSON.stringify(o)).toBe(503);
      expect(o.wellFormed).toBe(true);
      expect(o.retryAfter).not.toBeNull();
    }
    expect(
      outcomes.filter((o) => o.status === 402),
      'a database outage is not an exhausted budget',
    ).toHaveLength(0);
    // Recovers by itself within a few seconds of the server being back.
    expect(firstServed).toBeDefined();
    expect(firstServed!.at + firstServed!.ms - upAt).toBeLessThan(5000);
    expect(after.slice(-20).every((o) => o.status === 200 || o.status === 429)).toBe(true);

    expect(model2.status?.observedGeneration).toBe(1);
    expect(stored).toBe(4);
    expect(audit.get('claude-op2 model.created')).toBe(1);
    expect(audit.get('claude-op model.updated')).toBe(1);
    expect(
      [...audit.values()].every((n) => n === 1),
      JSON.stringify([...audit]),
    ).toBe(true);
    expect(viaGateway.status).toBe(200);
  });
});
