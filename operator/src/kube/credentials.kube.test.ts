import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { kubeRequest } from '@codevector/testbed/kube-request';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createKubeTestEnv, type KubeTestEnv, ready, until } from '../testing/kube-test-env.ts';
import { createKubeClient, type KubeClient } from './kube-client.ts';
import { loadKubeConfig, loadKubeconfigFile } from './kube-config.ts';

// Real users run the operator against EKS, GKE and AKS (exec credential plugins) and in pods
// (projected service account tokens the kubelet rotates). Both are exercised here against the
// real apiserver with real ServiceAccount tokens: each is bound to a Secret, so deleting that
// Secret revokes it, as a pod's deletion revokes its projected token.
let env: KubeTestEnv;
let work: string;
const serviceAccount = 'operator';
const procs: ChildProcess[] = [];
const mainTs = fileURLToPath(new URL('../main.ts', import.meta.url));

/** The admin kubeconfig's server and CA: what every kubeconfig written here points at. */
function clusterOfAdmin(): { server: string; caData: string } {
  const cluster = loadKubeconfigFile(process.env['KUBECONFIG']!).getCurrentCluster()!;
  return { server: cluster.server, caData: cluster.caData ?? '' };
}

async function writeKubeconfig(file: string, user: Record<string, unknown>): Promise<string> {
  const { server, caData } = clusterOfAdmin();
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server, 'certificate-authority-data': caData } }],
    users: [{ name: 'operator', user }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'operator' } }],
    'current-context': 'test',
  };
  await writeFile(file, stringify(config), { mode: 0o600 });
  return file;
}

/** A token of the test's ServiceAccount, valid until `revoke()` deletes the Secret it is bound to. */
async function mintToken(): Promise<{ token: string; revoke(): Promise<void> }> {
  const name = `bound-${randomBytes(3).toString('hex')}`;
  const secret = await env.client.core.createNamespacedSecret({ namespace: env.namespace, body: { metadata: { name }, type: 'Opaque' } });
  const request = await env.client.core.createNamespacedServiceAccountToken({
    namespace: env.namespace,
    name: serviceAccount,
    body: {
      spec: {
        audiences: [],
        expirationSeconds: 3600,
        boundObjectRef: { apiVersion: 'v1', kind: 'Secret', name, uid: secret.metadata?.uid },
      },
    },
  });
  return {
    token: request.status?.token ?? '',
    revoke: async () => {
      await env.client.core.deleteNamespacedSecret({ namespace: env.namespace, name });
    },
  };
}

/** Who the apiserver says the bearer of `token` is; status 401 once it is revoked. */
async function whoIs(token: string): Promise<{ status: number; user?: string }> {
  const file = await writeKubeconfig(path.join(work, `static-${randomBytes(3).toString('hex')}.kubeconfig`), { token });
  const res = await kubeRequest<{ status?: { userInfo?: { username?: string } } }>(file, {
    method: 'POST',
    path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });
  return { status: res.status, user: res.body.status?.userInfo?.username };
}

/** The apiserver caches a good token's authentication for a few seconds; wait until it refuses the revoked one. */
const untilRevoked = (token: string) =>
  until(
    () => whoIs(token),
    (r) => r.status === 401,
    20_000,
  );

async function whoAmI(client: KubeClient): Promise<string | undefined> {
  const review = await client.request<{ status?: { userInfo?: { username?: string } } }>(
    'POST',
    '/apis/authentication.k8s.io/v1/selfsubjectreviews',
    { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } },
  );
  return review.status?.userInfo?.username;
}

function spawnOperator(kubeconfig: string): ChildProcess {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', mainTs, 'run'], {
    env: {
      PATH: process.env['PATH'],
      KUBECONFIG: kubeconfig,
      DATABASE_URL: process.env['DATABASE_URL'],
      CODEVECTOR_ENCRYPTION_KEY: env.config.CODEVECTOR_ENCRYPTION_KEY,
      CODEVECTOR_WATCH_NAMESPACE: env.namespace,
      CODEVECTOR_OPERATOR_NAMESPACE: env.namespace,
      CODEVECTOR_LEASE_NAME: `lease-${randomBytes(3).toString('hex')}`,
      CODEVECTOR_WEBHOOK: 'false',
      CODEVECTOR_LEASE_DURATION_SECONDS: '4',
      CODEVECTOR_LEASE_RENEW_DEADLINE_SECONDS: '3',
      CODEVECTOR_LEASE_RETRY_SECONDS: '0.5',
      POD_NAME: `op-${randomBytes(3).toString('hex')}`,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  procs.push(child);
  return child;
}

async function stopOperator(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

const rateLimit = (name: string) => ({
  apiVersion: 'codevector.dev/v1alpha1',
  kind: 'RateLimit',
  metadata: { name },
  spec: { subject: { kind: 'global' }, requestsPerMinute: 10 },
});
const reconciled = (name: string) =>
  until(
    () => env.get('ratelimits', name),
    (o) => ready(o).status === 'True',
    20_000,
  );

/** As the kubelet updates a projected volume: the new content appears at once (rename), never half-written. */
async function replaceFile(file: string, content: string): Promise<void> {
  const next = `${file}.${randomBytes(3).toString('hex')}`;
  await writeFile(next, content, { mode: 0o600 });
  await rename(next, file);
}

beforeAll(async () => {
  env = await createKubeTestEnv('creds');
  work = await mkdtemp(path.join(tmpdir(), 'codevector-creds-'));
  await env.client.core.createNamespacedServiceAccount({ namespace: env.namespace, body: { metadata: { name: serviceAccount } } });
  await env.client.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    body: {
      metadata: { name: `codevector-${env.namespace}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace: env.namespace }],
    },
  });
});
afterAll(async () => {
  for (const child of procs) if (child.exitCode === null) child.kill('SIGKILL');
  await env?.client.request('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/codevector-${env.namespace}`).catch(() => {});
  await env?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const saUser = () => `system:serviceaccount:${env.namespace}:${serviceAccount}`;

describe('credentials through client-node', () => {
  it('runs the operator from a kubeconfig whose user is an exec credential plugin (the EKS, GKE and AKS shape)', async () => {
    const { token } = await mintToken();
    const runs = path.join(work, 'plugin-runs');
    const plugin = path.join(work, 'credential-plugin.sh');
    const credential = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token } });
    await writeFile(plugin, `#!/bin/sh\necho run >> '${runs}'\ncat <<'EOF'\n${credential}\nEOF\n`);
    await chmod(plugin, 0o755);
    const kubeconfig = await writeKubeconfig(path.join(work, 'exec.kubeconfig'), {
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: plugin,
        args: ['token', '--cluster', 'test'],
        interactiveMode: 'Never',
      },
    });

    const client = createKubeClient(loadKubeconfigFile(kubeconfig));
    try {
      expect(await whoAmI(client)).toBe(saUser());
    } finally {
      client.close();
    }

    const operator = spawnOperator(kubeconfig);
    await env.as('alice', 'POST', env.path('ratelimits'), rateLimit('via-exec'));
    expect(ready(await reconciled('via-exec'))).toMatchObject({ status: 'True' });
    await stopOperator(operator);
    // The credential has no expiry, so client-node cached it: one run for this test's client, one
    // for the operator process (its first call, the Lease read, precedes every other), none per request.
    expect((await readFile(runs, 'utf8')).trim().split('\n')).toHaveLength(2);
  });

  it('follows a rotated tokenFile without a restart, and keeps reconciling after the old token is revoked', async () => {
    const first = await mintToken();
    const second = await mintToken();
    const tokenFile = path.join(work, 'token');
    await writeFile(tokenFile, first.token, { mode: 0o600 });
    // Relative, as kubectl allows: resolved against the kubeconfig's folder.
    const kubeconfig = await writeKubeconfig(path.join(work, 'token-file.kubeconfig'), { tokenFile: 'token' });
    const operator = spawnOperator(kubeconfig);
    await env.as('alice', 'POST', env.path('ratelimits'), rateLimit('before-rotation'));
    await reconciled('before-rotation');

    await replaceFile(tokenFile, second.token);
    await first.revoke();
    expect(await untilRevoked(first.token)).toMatchObject({ status: 401 });
    expect(await whoIs(second.token)).toMatchObject({ status: 201, user: saUser() });

    await env.as('alice', 'POST', env.path('ratelimits'), rateLimit('after-rotation'));
    expect(ready(await reconciled('after-rotation'))).toMatchObject({ status: 'True' });
    expect(operator.exitCode).toBeNull();
    await stopOperator(operator);
  });

  it('in a pod: reads the service account folder, and a rotated projected token is used once the old one is revoked', async () => {
    const first = await mintToken();
    const second = await mintToken();
    const root = path.join(work, 'pod');
    const dir = path.join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'ca.crt'), Buffer.from(clusterOfAdmin().caData, 'base64'));
    await writeFile(path.join(dir, 'namespace'), env.namespace);
    await writeFile(path.join(dir, 'token'), first.token);
    // What the kubelet sets in every pod (this test file runs in its own process).
    const { hostname, port } = new URL(clusterOfAdmin().server);
    process.env['KUBERNETES_SERVICE_HOST'] = hostname;
    process.env['KUBERNETES_SERVICE_PORT'] = port;

    const client = createKubeClient(loadKubeConfig({ type: 'in-cluster', root }));
    const running = await env.startOperator({ webhook: false, client });
    try {
      expect(await whoAmI(client)).toBe(saUser());
      await env.as('alice', 'POST', env.path('ratelimits'), rateLimit('pod-before'));
      await reconciled('pod-before');

      await replaceFile(path.join(dir, 'token'), second.token);
      await first.revoke();
      await untilRevoked(first.token);
      expect(await whoAmI(client)).toBe(saUser());
      await env.as('alice', 'POST', env.path('ratelimits'), rateLimit('pod-after'));
      expect(ready(await reconciled('pod-after'))).toMatchObject({ status: 'True' });
    } finally {
      await running.stop();
      client.close();
    }
  });
});
