// Fault 3: `kill -9` of the operator process in the middle of reconciling a burst of changes. A
// new operator process (another pod name, so it must wait out the dead one's Lease) converges
// the database on what the apiserver holds, with exactly one audit row per change.
import { sql } from '@codevector/core/create-pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  auditRows,
  type Cluster,
  type Database,
  eventually,
  isReady,
  type KubeObject,
  modelManifest,
  providerManifests,
  recordFigures,
  type ServiceProcess,
  sleep,
  spawnOperator,
  startCluster,
  startDatabase,
} from './fault-bed.ts';

let db: Database;
let cluster: Cluster;
const operators: ServiceProcess[] = [];
const encryptionKey = Buffer.alloc(32, 7).toString('base64');

beforeAll(async () => {
  [db, cluster] = await Promise.all([startDatabase(), startCluster()]);
});
afterAll(async () => {
  for (const operator of operators) await operator.kill('SIGTERM');
  await cluster?.close();
  await db?.close();
});

const modelRow = z.object({ name: z.string(), generation: z.number(), input: z.number() });

describe('kill -9 of the operator mid-reconcile', () => {
  it('converges after a restart with exactly one audit row per change', async () => {
    const models = 60;
    const { secret, provider } = providerManifests('p', 'http://127.0.0.1:9');
    expect((await cluster.request('POST', `/api/v1/namespaces/${cluster.namespace}/secrets`, secret)).status).toBe(201);
    expect((await cluster.request('POST', cluster.path('providers'), provider)).status).toBe(201);
    operators.push(spawnOperator(cluster.operatorEnv(db.url, encryptionKey, 'op-first')));
    await Promise.all(
      Array.from({ length: models }, async (_, i) => {
        const created = await cluster.request('POST', cluster.path('models'), modelManifest(`m-${i}`, 'p'));
        expect(created.status).toBe(201);
      }),
    );
    // Kill it once it has written some of the burst, not all.
    const written = async () => [...(await auditRows(db.pool, cluster.namespace)).keys()].filter((k) => k.endsWith('model.created')).length;
    await eventually('first model rows', async () => (await written()) >= 3, 60_000);
    const atKill = await written();
    await operators[0]!.kill('SIGKILL');
    // What the dead operator committed; a change to an object it never stored is part of that
    // object's one `created` row, and an object created and deleted unseen writes nothing.
    const stored = new Set(
      (
        await db.pool.any(sql.type(modelRow)`
        select name, generation, (spec->'pricing'->>'input')::float8 as input from models where namespace = ${cluster.namespace}`)
      ).map((r) => r.name),
    );

    // While no operator runs: updates and deletes.
    for (let i = 0; i < 10; i++) {
      const patched = await cluster.request('PATCH', cluster.path('models', `m-${i}`), { spec: { pricing: { input: 5, output: 15 } } });
      expect(patched.status).toBe(200);
    }
    // Up to three it had stored and two it had not (how many it stored before the kill varies).
    const index = (name: string) => Number(name.slice(2));
    const storedLate = [...stored].filter((n) => index(n) >= 10).slice(0, 3);
    const unseen = Array.from({ length: models }, (_, i) => `m-${i}`)
      .filter((n) => index(n) >= 10 && !stored.has(n))
      .slice(0, 2);
    const deletedNames = new Set([...storedLate, ...unseen]);
    expect(storedLate.length).toBeGreaterThan(0);
    for (const name of deletedNames) expect((await cluster.request('DELETE', cluster.path('models', name))).status).toBe(200);

    const restartedAt = Date.now();
    operators.push(spawnOperator(cluster.operatorEnv(db.url, encryptionKey, 'op-second')));
    await eventually(
      'converged',
      async () => {
        const list = (await cluster.request<{ items: KubeObject[] }>('GET', cluster.path('models'))).body.items;
        if (list.length !== models - deletedNames.size) return false;
        if (!list.every((o) => isReady(o, o.metadata.generation))) return false;
        const rows = await db.pool.any(sql.type(modelRow)`
          select name, generation, (spec->'pricing'->>'input')::float8 as input from models where namespace = ${cluster.namespace}`);
        return rows.length === models - deletedNames.size;
      },
      90_000,
    );
    const convergedSeconds = (Date.now() - restartedAt) / 1000;
    await sleep(1000);
    const rows = await db.pool.any(sql.type(modelRow)`
      select name, generation, (spec->'pricing'->>'input')::float8 as input from models where namespace = ${cluster.namespace}`);
    const audit = await auditRows(db.pool, cluster.namespace);
    const duplicates = [...audit.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0);
    const expected = new Map<string, number>([['p provider.created', 1]]);
    for (let i = 0; i < models; i++) {
      const name = `m-${i}`;
      const deleted = deletedNames.has(name);
      if (deleted && !stored.has(name)) continue;
      expected.set(`${name} model.created`, 1);
      if (i < 10 && stored.has(name)) expected.set(`${name} model.updated`, 1);
      if (deleted) expected.set(`${name} model.deleted`, 1);
    }

    await recordFigures('operator-kill', {
      models,
      created_before_kill: atKill,
      stored_at_kill: stored.size,
      converged_seconds_after_restart: convergedSeconds,
      audit_rows: [...audit.values()].reduce((a, b) => a + b, 0),
      expected_audit_rows: [...expected.values()].reduce((a, b) => a + b, 0),
      duplicate_audit_rows: duplicates,
      lost_events: [...expected.keys()].filter((k) => !audit.has(k)).length,
    });

    expect(atKill).toBeLessThan(models);
    expect(Object.fromEntries(audit)).toEqual(Object.fromEntries(expected));
    expect(rows.filter((r) => Number(r.name.slice(2)) < 10).every((r) => r.input === 5 && r.generation === 2)).toBe(true);
    expect(rows.some((r) => deletedNames.has(r.name))).toBe(false);
    expect(operators[1]!.alive()).toBe(true);
  });
});
