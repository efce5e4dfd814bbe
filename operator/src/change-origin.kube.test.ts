import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { apiStatus } from './kube/kube-client.ts';
import { createKubeTestEnv, type KubeTestEnv, until } from './testing/kube-test-env.ts';

// GitOps attribution (issue #13 §4) against a real apiserver serving Argo CD's and Flux's own
// CRDs (from their Go modules, scripts/gitops-crds.sh): the controllers' identities are
// impersonated, their objects are real objects of those APIs.
let env: KubeTestEnv;
let argoNs: string;
let fluxNs: string;
const argoController = () => `system:serviceaccount:${argoNs}:argocd-application-controller`;
const fluxController = () => `system:serviceaccount:${fluxNs}:kustomize-controller`;
const repoRoot = path.resolve(import.meta.dirname, '../..');

async function installCrds(): Promise<void> {
  const dir = execFileSync('bash', [path.join(repoRoot, 'scripts/gitops-crds.sh')], { encoding: 'utf8' }).trim();
  for (const file of ['argocd-application.yaml', 'flux-kustomization.yaml', 'flux-gitrepository.yaml', 'flux-ocirepository.yaml']) {
    const crd = YAML.parse(readFileSync(path.join(dir, file), 'utf8'));
    try {
      await env.client.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: crd });
    } catch (error) {
      if (apiStatus(error) !== 409) throw error;
    }
    await until(
      () =>
        env.client.request<{ status?: { conditions?: { type: string; status: string }[] } }>(
          'GET',
          `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
        ),
      (o) => o.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false,
    );
  }
}

const rule = (name: string, metadata: Record<string, unknown> = {}) => ({
  apiVersion: 'codevector.dev/v1alpha1',
  kind: 'SecretRule',
  metadata: { name, ...metadata },
  spec: { detectors: ['cloud'], severity: 'critical', action: 'block' },
});
const rowsFor = (name: string, count: number) =>
  until(
    async () => (await env.audit()).filter((r) => r.target_name === `${env.namespace}/${name}`),
    (rows) => rows.length >= count,
  );
const originOf = (row: { detail: unknown } | undefined) => (row?.detail as { origin?: Record<string, unknown> } | undefined)?.origin;

beforeAll(async () => {
  env = await createKubeTestEnv('origin');
  await installCrds();
  argoNs = await env.addNamespace('argocd');
  fluxNs = await env.addNamespace('flux');
  await env.startOperator();

  // An Application in the middle of a sync: the operation names the revision being applied.
  await env.client.request('POST', `/apis/argoproj.io/v1alpha1/namespaces/${argoNs}/applications`, {
    body: {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: 'ai-gateway' },
      spec: {
        project: 'default',
        source: { repoURL: 'https://git.example.com/platform/ai-gateway.git', path: 'clusters/prod', targetRevision: 'main' },
        destination: { server: 'https://kubernetes.default.svc', namespace: env.namespace },
      },
      status: {
        sync: { status: 'OutOfSync', revision: '1111111111111111111111111111111111111111' },
        operationState: {
          phase: 'Running',
          startedAt: '2026-12-07T10:00:00Z',
          operation: { sync: { revision: '2222222222222222222222222222222222222222' } },
        },
      },
    },
  });
  await env.client.request('POST', `/apis/source.toolkit.fluxcd.io/v1/namespaces/${fluxNs}/gitrepositories`, {
    body: {
      apiVersion: 'source.toolkit.fluxcd.io/v1',
      kind: 'GitRepository',
      metadata: { name: 'platform' },
      spec: { url: 'ssh://git@git.example.com/platform/fleet.git', interval: '1m', ref: { branch: 'main' } },
    },
  });
  await env.client.request('PATCH', `/apis/source.toolkit.fluxcd.io/v1/namespaces/${fluxNs}/gitrepositories/platform/status`, {
    body: {
      status: {
        artifact: {
          path: 'gitrepository/flux/platform/3333.tar.gz',
          url: 'http://source-controller/gitrepository/flux/platform/3333.tar.gz',
          revision: 'main@sha1:3333333333333333333333333333333333333333',
          digest: 'sha256:0000000000000000000000000000000000000000000000000000000000000000',
          lastUpdateTime: '2026-12-07T10:00:00Z',
        },
      },
    },
    contentType: 'application/merge-patch+json',
  });
  await env.client.request('POST', `/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/${fluxNs}/kustomizations`, {
    body: {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: 'ai-gateway' },
      spec: { interval: '10m', path: './apps/ai-gateway', prune: true, sourceRef: { kind: 'GitRepository', name: 'platform' } },
    },
  });
}, 120_000);

afterAll(async () => {
  await env?.close();
});

describe('where a change came from', () => {
  it("names Argo CD's Application, repository and the revision being synced", async () => {
    const tracking = { 'argocd.argoproj.io/tracking-id': `ai-gateway:codevector.dev/SecretRule:${'x'}/from-argo` };
    const created = await env.as(argoController(), 'POST', env.path('secretrules'), rule('from-argo', { annotations: tracking }));
    expect(created.status).toBe(201);
    const [row] = await rowsFor('from-argo', 1);
    expect(row).toMatchObject({ action: 'secret_rule.created', actor: argoController() });
    expect(originOf(row)).toEqual({
      via: 'argocd',
      application: `Application ${argoNs}/ai-gateway`,
      repository: 'https://git.example.com/platform/ai-gateway.git',
      path: 'clusters/prod',
      revision: '2222222222222222222222222222222222222222',
      resolved: true,
    });
  });

  it("names Flux's Kustomization, its GitRepository's URL and the artifact revision being applied", async () => {
    const labels = { 'kustomize.toolkit.fluxcd.io/name': 'ai-gateway', 'kustomize.toolkit.fluxcd.io/namespace': fluxNs };
    expect((await env.as(fluxController(), 'POST', env.path('secretrules'), rule('from-flux', { labels }))).status).toBe(201);
    const [row] = await rowsFor('from-flux', 1);
    expect(originOf(row)).toEqual({
      via: 'flux',
      application: `Kustomization ${fluxNs}/ai-gateway`,
      repository: 'ssh://git@git.example.com/platform/fleet.git',
      path: './apps/ai-gateway',
      revision: 'main@sha1:3333333333333333333333333333333333333333',
      resolved: true,
    });
  });

  it("records a person's kubectl apply as a hand change, even with a GitOps tool's tracking metadata copied in", async () => {
    const forged = {
      annotations: {
        'argocd.argoproj.io/tracking-id': 'ai-gateway:codevector.dev/SecretRule:x/by-hand',
        'codevector.dev/changed-via': JSON.stringify({ via: 'argocd', repository: 'https://evil.example.com/r.git' }),
      },
    };
    const created = await env.as(
      'alice',
      'POST',
      `${env.path('secretrules')}?fieldManager=kubectl-client-side-apply`,
      rule('by-hand', forged),
    );
    expect(created.status).toBe(201);
    const [row] = await rowsFor('by-hand', 1);
    expect(row).toMatchObject({ actor: 'alice' });
    expect(originOf(row)).toEqual({ via: 'kubectl', fieldManager: 'kubectl-client-side-apply' });
  });

  it('keeps the stamp of the last spec change when a client rewrites it without changing the spec', async () => {
    const forged = await env.as(
      'mallory',
      'PATCH',
      env.path('secretrules', 'from-argo'),
      { metadata: { annotations: { 'codevector.dev/changed-via': '{"via":"kubectl"}' } } },
      'application/merge-patch+json',
    );
    expect(forged.status).toBe(200);
    expect(
      JSON.parse(
        (forged.body as { metadata: { annotations: Record<string, string> } }).metadata.annotations['codevector.dev/changed-via']!,
      ),
    ).toMatchObject({
      via: 'argocd',
    });
  });

  it("records Argo CD's prune of a resource with the sync's origin on the deleted row", async () => {
    expect((await env.as(argoController(), 'DELETE', env.path('secretrules', 'from-argo'))).status).toBe(200);
    const rows = await rowsFor('from-argo', 2);
    expect(rows[1]).toMatchObject({ action: 'secret_rule.deleted', actor: argoController() });
    expect(originOf(rows[1])).toMatchObject({ via: 'argocd', application: `Application ${argoNs}/ai-gateway`, resolved: true });
  });

  it('says the origin is unresolved when the named Application does not exist, and still admits the change', async () => {
    const tracking = { 'argocd.argoproj.io/tracking-id': 'no-such-app:codevector.dev/SecretRule:x/orphan' };
    expect((await env.as(argoController(), 'POST', env.path('secretrules'), rule('orphan', { annotations: tracking }))).status).toBe(201);
    const [row] = await rowsFor('orphan', 1);
    expect(originOf(row)).toEqual({ via: 'argocd', application: `Application ${argoNs}/no-such-app`, resolved: false });
  });
});
