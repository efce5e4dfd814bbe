import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '@codevector/core/logger';
import { CoreV1Api, KubeConfig, type KubernetesObject, makeInformer } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { until } from '../testing/kube-test-env.ts';
import { createInformer, type InformerEvent } from './informer.ts';
import { createKubeClient, type KubeClient } from './kube-client.ts';
import { loadKubeconfigFile } from './kube-config.ts';

// What @kubernetes/client-node 2.0.1 does on its own, against the real apiserver: each case is a
// reason ADR 0101 gives for code of ours around it, and each asserts client-node's behaviour as it
// is, so an upgrade that fixes it fails here and says which of our code can go.
const kubeconfigPath = process.env['KUBECONFIG']!;
const log = createLogger({ name: 'client-node-test', level: 'silent' });
const namespace = `cn-${randomBytes(3).toString('hex')}`;
const configMaps = `/api/v1/namespaces/${namespace}/configmaps`;
let admin: KubeClient;

beforeAll(async () => {
  admin = createKubeClient(loadKubeconfigFile(kubeconfigPath));
  await admin.request('POST', '/api/v1/namespaces', { body: { metadata: { name: namespace } } });
});
afterAll(() => admin?.close());

const createConfigMap = (name: string) => admin.request('POST', configMaps, { body: { metadata: { name } } });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** client-node's KubeConfig for the admin kubeconfig, optionally pointed at another server address. */
function plainKubeConfig(server?: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigPath);
  if (server) redirect(config, server);
  return config;
}

function redirect(config: KubeConfig, server: string): void {
  config.loadFromOptions({
    clusters: config.getClusters().map((c) => ({ ...c, server })),
    users: config.getUsers(),
    contexts: config.getContexts(),
    currentContext: config.getCurrentContext(),
  });
}

/** A TCP relay to the apiserver that can drop every connection at once: a network failure, with TLS end to end. */
async function startRelay(target: string) {
  const { hostname, port } = new URL(target);
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((downstream) => {
    accepted++;
    const upstream = net.connect(Number(port), hostname);
    for (const socket of [downstream, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        downstream.destroy();
        upstream.destroy();
      });
    }
    downstream.pipe(upstream).pipe(downstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return {
    url: `https://127.0.0.1:${address.port}`,
    accepted: () => accepted,
    cut() {
      for (const socket of sockets) socket.destroy();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Counts new TCP connections undici opens (every copy of undici publishes to this channel). */
function countConnections(): { count(): number; stop(): void } {
  let count = 0;
  const onConnected = () => count++;
  subscribe('undici:client:connected', onConnected);
  return { count: () => count, stop: () => unsubscribe('undici:client:connected', onConnected) };
}

describe('@kubernetes/client-node 2.0.1 on its own', () => {
  it('opens a new connection (TCP + TLS handshake) for every typed call; createKubeClient keeps one pool', async () => {
    const connections = countConnections();
    try {
      const plain = plainKubeConfig().makeApiClient(CoreV1Api);
      for (let i = 0; i < 20; i++) await plain.readNamespace({ name: namespace });
      const perCall = connections.count();

      const ours = createKubeClient(loadKubeconfigFile(kubeconfigPath));
      try {
        for (let i = 0; i < 20; i++) await ours.core.readNamespace({ name: namespace });
        for (let i = 0; i < 5; i++) await ours.request('GET', `/api/v1/namespaces/${namespace}`);
      } finally {
        ours.close();
      }
      expect(perCall).toBe(20);
      expect(connections.count() - perCall).toBe(1);
    } finally {
      connections.stop();
    }
  });

  it("ignores a kubeconfig user's tokenFile and sends the request anonymously; loadKubeConfig authenticates with it", async () => {
    // Any bearer token the apiserver knows will do: the admin's own client-certificate login
    // cannot be put in a file, so this mints one for a throwaway ServiceAccount.
    const sa = `reader-${randomBytes(2).toString('hex')}`;
    await admin.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: sa } } });
    const { status } = await admin.core.createNamespacedServiceAccountToken({ namespace, name: sa, body: { spec: { audiences: [] } } });
    const dir = tmpdir();
    const tokenFile = path.join(dir, `${sa}-${namespace}.token`);
    await writeFile(tokenFile, status?.token ?? '', { mode: 0o600 });
    const cluster = plainKubeConfig().getCurrentCluster()!;
    const kubeconfig = path.join(dir, `${sa}-${namespace}.kubeconfig`);
    await writeFile(
      kubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
        users: [{ name: 'u', user: { tokenFile } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    const review = { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' };
    const reviewPath = '/apis/authentication.k8s.io/v1/selfsubjectreviews';

    const plainConfig = new KubeConfig();
    plainConfig.loadFromFile(kubeconfig);
    expect(plainConfig.getCurrentUser()?.token).toBeUndefined();
    const plain = createKubeClient(plainConfig);
    const ours = createKubeClient(loadKubeconfigFile(kubeconfig));
    try {
      await expect(plain.request('POST', reviewPath, { body: review })).rejects.toThrow(/403 .*User "system:anonymous"/);
      const authenticated = await ours.request<{ status: { userInfo: { username: string } } }>('POST', reviewPath, { body: review });
      expect(authenticated.status.userInfo.username).toBe(`system:serviceaccount:${namespace}:${sa}`);
    } finally {
      plain.close();
      ours.close();
    }
  });

  it('its informer (ListWatch) gives up for good after one dropped connection; ours reconnects and misses nothing', async () => {
    const relay = await startRelay(plainKubeConfig().getCurrentCluster()!.server);
    const theirs = { added: [] as string[], errors: [] as unknown[] };
    const config = plainKubeConfig(relay.url);
    const core = config.makeApiClient(CoreV1Api);
    const informer = makeInformer(config, configMaps, () => core.listNamespacedConfigMap({ namespace }));
    informer.on('add', (o: KubernetesObject) => theirs.added.push(o.metadata?.name ?? ''));
    informer.on('error', (error: unknown) => theirs.errors.push(error));

    const oursConfig = loadKubeconfigFile(kubeconfigPath);
    redirect(oursConfig, relay.url);
    const oursClient = createKubeClient(oursConfig);
    const ours: [InformerEvent, string][] = [];
    const own = createInformer({
      client: oursClient,
      log,
      path: configMaps,
      watchTimeoutSeconds: 60,
      backoff: { initialMs: 50, maxMs: 200 },
      onEvent: (event, object) => ours.push([event, object.metadata.name]),
    });
    try {
      await informer.start();
      own.start();
      await own.synced();
      await createConfigMap('before-cut');
      await until(
        async () => theirs.added.length + ours.length,
        () => theirs.added.includes('before-cut') && ours.some(([, n]) => n === 'before-cut'),
        10_000,
      );

      relay.cut();
      await until(
        async () => theirs.errors.length,
        (n) => n > 0,
        10_000,
      );
      const acceptedAfterCut = relay.accepted();
      await createConfigMap('after-cut');
      await until(
        async () => ours.length,
        () => ours.some(([e, n]) => e === 'added' && n === 'after-cut'),
        10_000,
      );
      // Well past client-node's own reconnect delay (1 s, doubling): it is not coming back.
      await sleep(2_500);

      expect(theirs.errors).toHaveLength(1);
      expect(theirs.added).toEqual(['before-cut']);
      expect(informer.list().map((o) => o.metadata?.name)).toEqual(['before-cut']);
      // Our informer opened the only new connections (a re-watch; after three failures a re-list).
      expect(relay.accepted()).toBeGreaterThan(acceptedAfterCut);
      expect(ours.filter(([e]) => e === 'added').map(([, n]) => n)).toEqual(['before-cut', 'after-cut']);
    } finally {
      await informer.stop();
      await own.stop();
      oursClient.close();
      relay.cut();
      await relay.close();
    }
  });

  it('its informer keeps watching when stop() comes while it lists: events arrive after stop; ours delivers none', async () => {
    const config = plainKubeConfig();
    const core = config.makeApiClient(CoreV1Api);
    const theirs: string[] = [];
    let stoppedAt = -1;
    const informer = makeInformer(config, configMaps, () => core.listNamespacedConfigMap({ namespace }));
    informer.on('add', (o: KubernetesObject) => theirs.push(o.metadata?.name ?? ''));

    const client = createKubeClient(loadKubeconfigFile(kubeconfigPath));
    const ours: string[] = [];
    const own = createInformer({ client, log, path: configMaps, onEvent: (_e, o) => ours.push(o.metadata.name) });
    try {
      // Leader election stops the informers of a replica that lost its lease at any moment,
      // including while they list.
      const starting = informer.start();
      await informer.stop();
      stoppedAt = theirs.length;
      await starting;
      own.start();
      await own.stop();
      const oursAtStop = ours.length;

      await createConfigMap('after-stop');
      await until(
        async () => theirs.length,
        () => theirs.includes('after-stop'),
        5_000,
      );
      expect(theirs.slice(stoppedAt)).toContain('after-stop');
      expect(ours.slice(oursAtStop)).toEqual([]);
    } finally {
      await informer.stop();
      client.close();
    }
  });
});
