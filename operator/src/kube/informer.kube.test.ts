import { randomBytes } from 'node:crypto';
import { createLogger } from '@codevector/core/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../testing/kube-test-env.ts';
import { createInformer, type InformerEvent } from './informer.ts';
import { createKubeClient, type KubeClient } from './kube-client.ts';
import { loadKubeconfigFile } from './kube-config.ts';

let client: KubeClient;
const namespace = `inf-${randomBytes(3).toString('hex')}`;
const log = createLogger({ name: 'informer-test', level: 'silent' });
const configMaps = `/api/v1/namespaces/${namespace}/configmaps`;

beforeAll(async () => {
  client = createKubeClient(loadKubeconfigFile(process.env['KUBECONFIG']!));
  await client.request('POST', '/api/v1/namespaces', { body: { metadata: { name: namespace } } });
});
afterAll(() => client.close());

const create = (name: string) => client.request('POST', configMaps, { body: { metadata: { name }, data: { v: '1' } } });

describe('informer against a real apiserver', () => {
  it('survives a watchdog that keeps killing quiet connections: every change arrives, nothing is replayed as new', async () => {
    await create('existing');
    const events: [InformerEvent, string][] = [];
    const informer = createInformer({
      client,
      log,
      path: configMaps,
      // No bookmarks come within 300 ms, so the watchdog kills each connection: the informer must
      // resume from the last resourceVersion without losing or duplicating events.
      idleTimeoutMs: 300,
      watchTimeoutSeconds: 60,
      backoff: { initialMs: 10, maxMs: 50 },
      onEvent: (event, object) => events.push([event, object.metadata.name]),
    });
    informer.start();
    await informer.synced();
    for (let i = 0; i < 5; i++) {
      await create(`cm-${i}`);
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
    await client.request('DELETE', `${configMaps}/cm-0`);
    await until(
      async () => events.length,
      () => events.some(([e, n]) => e === 'deleted' && n === 'cm-0'),
      10_000,
    );
    await informer.stop();
    expect(events.filter(([e]) => e === 'added').map(([, n]) => n)).toEqual(['existing', 'cm-0', 'cm-1', 'cm-2', 'cm-3', 'cm-4']);
    expect(informer.get(namespace, 'cm-0')).toBeUndefined();
    expect(informer.get(namespace, 'cm-4')).toBeDefined();
  });

  it('replays the cache on resync so a lost event or failed reconcile is retried anyway', async () => {
    const resynced = new Set<string>();
    const informer = createInformer({
      client,
      log,
      path: configMaps,
      resyncMs: 200,
      onEvent: (event, object) => {
        if (event === 'resync') resynced.add(object.metadata.name);
      },
    });
    informer.start();
    await informer.synced();
    await until(
      async () => resynced.size,
      (n) => n >= 5,
      5_000,
    );
    await informer.stop();
    expect(resynced.has('cm-4')).toBe(true);
  });
});
