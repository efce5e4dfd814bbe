// Fault 4: the operator's kube-apiserver goes away and comes back on the same port and etcd
// data. While it is down, changes are made through a second apiserver on the same etcd (as in a
// multi-master cluster); then etcd itself is restarted with its apiserver. The operator process,
// which never restarts, catches up every change made meanwhile.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
let operator: ServiceProcess;
const encryptionKey = Buffer.alloc(32, 9).toString('base64');

beforeAll(async () => {
  [db, cluster] = await Promise.all([startDatabase(), startCluster()]);
});
afterAll(async () => {
  await operator?.kill('SIGTERM');
  await cluster?.close();
  await db?.close();
});

describe('kube-apiserver restarted', () => {
  it('lets the operator catch up every change made while its apiserver was away', async () => {
    const { secret, provider } = providerManifests('p', 'http://127.0.0.1:9');
    expect((await cluster.request('POST', `/api/v1/namespaces/${cluster.namespace}/secrets`, secret)).status).toBe(201);
    expect((await cluster.request('POST', cluster.path('providers'), provider)).status).toBe(201);
    for (let i = 0; i < 5; i++)
      expect((await cluster.request('POST', cluster.path('models'), modelManifest(`m-${i}`, 'p'))).status).toBe(201);
    operator = spawnOperator(cluster.operatorEnv(db.url, encryptionKey, 'op-1'));
    const allReady = async (count: number) => {
      const list = (await cluster.request<{ items: KubeObject[] }>('GET', cluster.path('models'))).body.items;
      return list.length === count && list.every((o) => isReady(o, o.metadata.generation));
    };
    await eventually('initial models reconciled', () => allReady(5), 60_000);

    // 1. The operator's apiserver stops; changes go through another one on the same etcd.
    const second = await cluster.controlPlane.addApiserver();
    await cluster.controlPlane.stopComponent('kube-apiserver');
    const via = second.kubeconfigPath;
    for (let i = 5; i < 10; i++)
      expect((await cluster.request('POST', cluster.path('models'), modelManifest(`m-${i}`, 'p'), via)).status).toBe(201);
    expect(
      (await cluster.request('PATCH', cluster.path('models', 'm-0'), { spec: { pricing: { input: 6, output: 15 } } }, via)).status,
    ).toBe(200);
    expect((await cluster.request('DELETE', cluster.path('models', 'm-1'), undefined, via)).status).toBe(200);
    // Longer than the operator's Lease (4 s): it loses leadership and must win it back.
    await sleep(6000);
    const firstBackAt = Date.now();
    await cluster.controlPlane.startComponent('kube-apiserver');
    await second.stop();
    await eventually('caught up after the apiserver restart', () => allReady(9), 60_000);
    const firstCatchUp = (Date.now() - firstBackAt) / 1000;

    // 2. etcd and the apiserver both restart on the same data; changes made right after.
    await cluster.controlPlane.stopComponent('kube-apiserver');
    await cluster.controlPlane.stopComponent('etcd');
    await sleep(2000);
    await cluster.controlPlane.startComponent('etcd');
    await cluster.controlPlane.startComponent('kube-apiserver');
    const secondBackAt = Date.now();
    await eventually('apiserver serves models', async () => (await cluster.request('GET', cluster.path('models'))).status === 200, 30_000);
    expect((await cluster.request('POST', cluster.path('models'), modelManifest('m-10', 'p'))).status).toBe(201);
    expect((await cluster.request('PATCH', cluster.path('models', 'm-2'), { spec: { pricing: { input: 7, output: 15 } } })).status).toBe(
      200,
    );
    await eventually('caught up after the etcd restart', () => allReady(10), 60_000);
    const secondCatchUp = (Date.now() - secondBackAt) / 1000;
    await sleep(1000);

    const audit = await auditRows(db.pool, cluster.namespace);
    const expected = new Map<string, number>([['p provider.created', 1]]);
    for (let i = 0; i <= 10; i++) expected.set(`m-${i} model.created`, 1);
    expected.set('m-0 model.updated', 1);
    expected.set('m-2 model.updated', 1);
    expected.set('m-1 model.deleted', 1);
    await recordFigures('apiserver-restart', {
      catch_up_seconds_after_apiserver_restart: firstCatchUp,
      catch_up_seconds_after_etcd_restart: secondCatchUp,
      duplicate_audit_rows: [...audit.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0),
      lost_events: [...expected.keys()].filter((k) => !audit.has(k)).length,
    });
    expect(Object.fromEntries(audit)).toEqual(Object.fromEntries(expected));
    expect(operator.alive(), operator.output.slice(-30).join('\n')).toBe(true);
  });
});
