import { randomBytes } from 'node:crypto';
import { createLogger } from '@codevector/core/logger';
import { type ControlPlane, startControlPlane } from '@codevector/testbed/control-plane';
import { kubeRequest } from '@codevector/testbed/kube-request';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiVersion } from '../kinds.ts';
import { createKubeTestEnv, type KubeTestEnv, ready, until } from '../testing/kube-test-env.ts';
import { createInformer, type InformerEvent } from './informer.ts';
import { createKubeClient, type KubeClient, WatchExpiredError } from './kube-client.ts';
import { loadKubeconfigFile } from './kube-config.ts';

// 410 Gone needs its own control plane. With the watch cache on (the default, and the shared
// control plane), the apiserver answers a watch from a compacted resourceVersion out of its
// in-memory event window and never says Gone. On v1.34, `--default-watch-cache-size=0` does not
// change that; `--watch-cache=false` (or `--watch-cache-sizes=<resource>#0` per resource) sends
// watches straight to etcd, which reports the compaction, and the apiserver turns it into an
// ERROR event with code 410 on an HTTP 200 stream.
let controlPlane: ControlPlane;
const log = createLogger({ name: 'informer-gone-test', level: 'silent' });
const crdDir = new URL('../../../crds/', import.meta.url).pathname;

beforeAll(async () => {
  controlPlane = await startControlPlane({ crdDir, apiserverArgs: ['--watch-cache=false'] });
  // This file's operator, test env and clients talk to the dedicated control plane (forks pool:
  // the variable is this file's own).
  process.env['KUBECONFIG'] = controlPlane.kubeconfigPath;
});
afterAll(async () => {
  await controlPlane?.stop();
});

/** Compacts etcd at its current revision through the gRPC gateway; returns that revision. */
async function compactEtcd(): Promise<number> {
  const status = (await (await fetch(`${controlPlane.etcdUrl}/v3/maintenance/status`, { method: 'POST', body: '{}' })).json()) as {
    header: { revision: string };
  };
  const res = await fetch(`${controlPlane.etcdUrl}/v3/kv/compaction`, {
    method: 'POST',
    body: JSON.stringify({ revision: status.header.revision, physical: true }),
  });
  if (!res.ok) throw new Error(`compaction failed: ${res.status} ${await res.text()}`);
  return Number(status.header.revision);
}

type WatchOutcome = { path: string; result: 'ended' | 'expired' | 'failed'; message?: string };

/**
 * Wraps `client.watch` in place so a test can drop every open watch and hold the informers'
 * reconnects until it has made the history they would resume from disappear.
 */
function controlWatches(client: KubeClient) {
  const watch = client.watch.bind(client);
  const live = new Set<AbortController>();
  const outcomes: WatchOutcome[] = [];
  const started: string[] = [];
  const parked: string[] = [];
  let gate: Promise<void> | undefined;
  let open = () => {};
  client.watch = async (path, options) => {
    if (gate) {
      parked.push(path);
      await Promise.race([gate, new Promise((resolve) => options.signal.addEventListener('abort', resolve, { once: true }))]);
      parked.splice(parked.indexOf(path), 1);
    }
    started.push(path);
    const own = new AbortController();
    const forward = () => own.abort();
    options.signal.addEventListener('abort', forward, { once: true });
    live.add(own);
    try {
      await watch(path, { ...options, signal: own.signal });
      outcomes.push({ path, result: 'ended' });
    } catch (error) {
      outcomes.push({
        path,
        result: error instanceof WatchExpiredError ? 'expired' : 'failed',
        message: error instanceof Error ? error.message : String(error),
      });
      throw error;
    } finally {
      live.delete(own);
      options.signal.removeEventListener('abort', forward);
    }
  };
  return {
    outcomes,
    /** Every path passed on to the real watch, in order. */
    started,
    /** Paths (with the resourceVersion they would resume from) of watches waiting at the gate. */
    parked,
    pause() {
      gate = new Promise((resolve) => (open = resolve));
      for (const controller of live) controller.abort();
    },
    resume() {
      gate = undefined;
      open();
    },
  };
}

const resourceVersionOf = (path: string) => new URL(path, 'http://x').searchParams.get('resourceVersion') ?? '';
const rateLimit = (name: string, requestsPerMinute = 100) => ({
  apiVersion,
  kind: 'RateLimit',
  metadata: { name },
  spec: { subject: { kind: 'global' }, requestsPerMinute },
});

describe('informer when its resourceVersion is compacted away (410 Gone)', () => {
  let client: KubeClient;
  const namespace = `gone-${randomBytes(3).toString('hex')}`;
  const rateLimits = `/apis/${apiVersion}/namespaces/${namespace}/ratelimits`;

  beforeAll(async () => {
    client = createKubeClient(loadKubeconfigFile(controlPlane.kubeconfigPath));
    await client.request('POST', '/api/v1/namespaces', { body: { metadata: { name: namespace } } });
  });
  afterAll(() => client?.close());

  it('gets 410 as an ERROR event, re-lists, and sees exactly what changed in the gap: no duplicates, nothing missed', async () => {
    for (const name of ['keep', 'changed', 'gone']) await client.request('POST', rateLimits, { body: rateLimit(name) });
    const watches = controlWatches(client);
    const events: [InformerEvent, string][] = [];
    const informer = createInformer({
      client,
      log,
      path: rateLimits,
      watchTimeoutSeconds: 60,
      backoff: { initialMs: 10, maxMs: 50 },
      onEvent: (event, object) => events.push([event, object.metadata.name]),
    });
    informer.start();
    try {
      await informer.synced();
      expect(events).toEqual([
        ['added', 'changed'],
        ['added', 'gone'],
        ['added', 'keep'],
      ]);
      const listed = events.length;

      // Drop the connection and hold the reconnect: the informer waits with its last resourceVersion.
      watches.pause();
      await until(
        async () => watches.parked.length,
        (n) => n === 1,
        5_000,
      );
      const stalePath = watches.parked[0] ?? '';
      const staleVersion = Number(resourceVersionOf(stalePath));
      expect(staleVersion).toBeGreaterThan(0);

      await client.request('POST', rateLimits, { body: rateLimit('new') });
      await client.request('PATCH', `${rateLimits}/changed`, {
        body: { spec: { requestsPerMinute: 5 } },
        contentType: 'application/merge-patch+json',
      });
      await client.request('DELETE', `${rateLimits}/gone`);
      // Created and deleted inside the gap: a re-list cannot see it and must not invent it.
      await client.request('POST', rateLimits, { body: rateLimit('transient') });
      await client.request('DELETE', `${rateLimits}/transient`);
      const compactedAt = await compactEtcd();
      expect(compactedAt).toBeGreaterThan(staleVersion + 1);

      // What the apiserver itself answers on the wire for the informer's stale watch.
      const wire = await kubeRequest<{ type: string; object: { code: number; reason: string } }>(controlPlane.kubeconfigPath, {
        method: 'GET',
        path: stalePath.replace(/timeoutSeconds=\d+/, 'timeoutSeconds=1'),
      });
      expect(wire.status).toBe(200);
      expect(wire.body).toMatchObject({ type: 'ERROR', object: { code: 410, reason: 'Expired' } });

      const resumedAt = watches.outcomes.length;
      watches.resume();
      await until(
        async () => events.length,
        () => events.slice(listed).some(([e, n]) => e === 'deleted' && n === 'gone'),
        10_000,
      );
      // The resumed watch was answered with 410 (an ERROR event inside a 200 stream: the
      // client's HTTP-status path would say "410 Gone"), and the next watch starts from the
      // re-list's resourceVersion, which the compaction did not remove.
      const stale = watches.outcomes.slice(resumedAt).find((o) => o.path === stalePath);
      expect(stale).toMatchObject({ result: 'expired', message: expect.stringContaining('too old') });
      expect(stale?.message).not.toContain('410 Gone');

      await client.request('POST', rateLimits, { body: rateLimit('after') });
      await until(
        async () => events.length,
        () => events.some(([, n]) => n === 'after'),
        10_000,
      );
      const gapEvents = events.slice(listed).sort(([, a], [, b]) => a.localeCompare(b));
      expect(gapEvents).toEqual([
        ['added', 'after'],
        ['modified', 'changed'],
        ['deleted', 'gone'],
        ['added', 'new'],
      ]);
      expect(watches.outcomes.filter((o) => o.result === 'expired')).toHaveLength(1);
      const resumedFrom = watches.started.slice(watches.started.lastIndexOf(stalePath) + 1).map((p) => Number(resourceVersionOf(p)));
      expect(resumedFrom.length).toBeGreaterThan(0);
      for (const version of resumedFrom) expect(version).toBeGreaterThanOrEqual(compactedAt);
    } finally {
      await informer.stop();
    }
    expect(
      informer
        .list()
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['after', 'changed', 'keep', 'new']);
    expect(informer.get(namespace, 'changed')?.spec).toMatchObject({ requestsPerMinute: 5 });
  });
});

describe('operator when every watch gets 410 Gone', () => {
  let env: KubeTestEnv;
  beforeAll(async () => {
    env = await createKubeTestEnv('gone-op');
  });
  afterAll(async () => {
    await env?.close();
  });

  it('re-lists and records exactly one audit row per change made in the gap, and none for what did not change', async () => {
    const watches = controlWatches(env.client);
    const running = await env.startOperator({ webhook: false });
    const readyOf = (name: string, generation: number) =>
      until(
        () => env.get('ratelimits', name),
        (o) => ready(o).status === 'True' && o.status?.['observedGeneration'] === generation,
      );
    for (const name of ['keep', 'changed', 'gone']) await env.as('alice', 'POST', env.path('ratelimits'), rateLimit(name));
    for (const name of ['keep', 'changed', 'gone']) await readyOf(name, 1);
    await running.operator.idle();
    const before = (await env.audit()).map((r) => [r.action, r.target_name]);
    expect(before).toHaveLength(3);

    // Every informer (five kinds and the Secrets) loses its connection and waits to reconnect.
    watches.pause();
    await until(
      async () => watches.parked.length,
      (n) => n === 6,
      5_000,
    );
    const stalePaths = [...watches.parked];
    await env.as('bob', 'POST', env.path('ratelimits'), rateLimit('new'));
    await env.as('bob', 'PATCH', env.path('ratelimits', 'changed'), { spec: { requestsPerMinute: 5 } }, 'application/merge-patch+json');
    expect((await env.as('bob', 'DELETE', env.path('ratelimits', 'gone'))).status).toBe(200);
    await compactEtcd();
    const resumedAt = watches.outcomes.length;
    watches.resume();

    await readyOf('new', 1);
    await readyOf('changed', 2);
    await until(
      () => env.as('admin', 'GET', env.path('ratelimits', 'gone')),
      (r) => r.status === 404,
    );
    // Let resyncs of the re-listed cache and the status writes settle, then count.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await running.operator.idle();
    for (const path of stalePaths)
      expect(watches.outcomes.slice(resumedAt).find((o) => o.path === path)).toMatchObject({ result: 'expired' });
    const rows = (await env.audit()).map((r) => [r.action, r.target_name]);
    const ns = env.namespace;
    expect(rows.slice(0, 3)).toEqual(before);
    expect(rows.slice(3).sort()).toEqual(
      [
        ['rate_limit.created', `${ns}/new`],
        ['rate_limit.deleted', `${ns}/gone`],
        ['rate_limit.updated', `${ns}/changed`],
      ].sort(),
    );
  });
});
