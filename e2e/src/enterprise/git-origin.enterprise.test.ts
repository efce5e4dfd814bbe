import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { adminEmail, adminPassword, startTestConsole } from '@codevector/console-api/testing/test-console';
import { apiStatus } from '@codevector/operator/kube/kube-client';
import { createKubeTestEnv, type KubeTestEnv, until } from '@codevector/operator/testing/kube-test-env';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { launchChromium } from '../chromium.ts';
import { recordEnterpriseFigures } from './enterprise-figures.ts';

// Who changed it in git (issue #13 §4, ADR 0104), end to end: a real apiserver serving Argo CD's
// and Flux's own CRDs (scripts/gitops-crds.sh), the operator's admission webhook and reconcilers,
// PostgreSQL, and the console's audit API. Two Argo CD syncs and two Flux artifacts apply
// creates, updates and a prune as the controllers' service accounts (the controllers themselves
// do not run here); a person's kubectl apply comes in between. Every GitOps change's audit row
// must name its Application or Kustomization, repository and the revision being applied then,
// and the console must show and filter it, in Chromium.
let env: KubeTestEnv;
let argoNs: string;
let fluxNs: string;
const argoController = () => `system:serviceaccount:${argoNs}:argocd-application-controller`;
const fluxController = () => `system:serviceaccount:${fluxNs}:kustomize-controller`;
const repoRoot = path.resolve(import.meta.dirname, '../../..');
const webDir = path.join(repoRoot, 'console/web');
const argoRepo = 'https://git.example.com/platform/ai-gateway.git';
const fluxRepo = 'ssh://git@git.example.com/platform/fleet.git';
const sha = (digit: string) => digit.repeat(40);
// The operator caches the Application and source lookups for 2 s (one sync admits many objects).
const originCacheMs = 2100;

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

/** Argo CD starts syncing `revision` (what its controller writes into the Application's operation). */
async function argoSyncs(revision: string): Promise<void> {
  await env.client.request('PATCH', `/apis/argoproj.io/v1alpha1/namespaces/${argoNs}/applications/ai-gateway`, {
    body: { status: { operationState: { phase: 'Running', startedAt: new Date().toISOString(), operation: { sync: { revision } } } } },
    contentType: 'application/merge-patch+json',
  });
  await new Promise((resolve) => setTimeout(resolve, originCacheMs));
}

/** Flux's source-controller publishes a new artifact of the GitRepository. */
async function fluxFetches(revision: string): Promise<void> {
  await env.client.request('PATCH', `/apis/source.toolkit.fluxcd.io/v1/namespaces/${fluxNs}/gitrepositories/platform/status`, {
    body: {
      status: {
        artifact: {
          path: `gitrepository/flux/platform/${revision.slice(-8)}.tar.gz`,
          url: `http://source-controller/gitrepository/flux/platform/${revision.slice(-8)}.tar.gz`,
          revision,
          digest: `sha256:${'0'.repeat(64)}`,
          lastUpdateTime: new Date().toISOString(),
        },
      },
    },
    contentType: 'application/merge-patch+json',
  });
  await new Promise((resolve) => setTimeout(resolve, originCacheMs));
}

const rule = (name: string, severity: string, metadata: Record<string, unknown>) => ({
  apiVersion: 'codevector.dev/v1alpha1',
  kind: 'SecretRule',
  metadata: { name, ...metadata },
  spec: { detectors: ['cloud'], severity, action: 'block' },
});
const argoTracking = (name: string) => ({
  annotations: { 'argocd.argoproj.io/tracking-id': `ai-gateway:codevector.dev/SecretRule:${env.namespace}/${name}` },
});
const fluxLabels = () => ({
  labels: { 'kustomize.toolkit.fluxcd.io/name': 'ai-gateway', 'kustomize.toolkit.fluxcd.io/namespace': fluxNs },
});
const expectCreated = async (reply: Promise<{ status: number }>) => expect((await reply).status).toBeLessThan(300);
const setSeverity = (user: string, name: string, severity: string) =>
  env.as(user, 'PATCH', env.path('secretrules', name), { spec: { severity } }, 'application/merge-patch+json');
type Origin = { via?: string; application?: string; repository?: string; revision?: string; resolved?: boolean; fieldManager?: string };
const originOf = (row: { detail: unknown }) => (row.detail as { origin?: Origin } | undefined)?.origin;

beforeAll(async () => {
  env = await createKubeTestEnv('gitorigin');
  await installCrds();
  argoNs = await env.addNamespace('argocd');
  fluxNs = await env.addNamespace('flux');
  await env.startOperator();
  await env.client.request('POST', `/apis/argoproj.io/v1alpha1/namespaces/${argoNs}/applications`, {
    body: {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: 'ai-gateway' },
      spec: {
        project: 'default',
        source: { repoURL: argoRepo, path: 'clusters/prod', targetRevision: 'main' },
        destination: { server: 'https://kubernetes.default.svc', namespace: env.namespace },
      },
    },
  });
  await env.client.request('POST', `/apis/source.toolkit.fluxcd.io/v1/namespaces/${fluxNs}/gitrepositories`, {
    body: {
      apiVersion: 'source.toolkit.fluxcd.io/v1',
      kind: 'GitRepository',
      metadata: { name: 'platform' },
      spec: { url: fluxRepo, interval: '1m', ref: { branch: 'main' } },
    },
  });
  await env.client.request('POST', `/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/${fluxNs}/kustomizations`, {
    body: {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: 'ai-gateway' },
      spec: { interval: '10m', path: './apps/ai-gateway', prune: true, sourceRef: { kind: 'GitRepository', name: 'platform' } },
    },
  });
}, 180_000);

afterAll(async () => {
  await env?.close();
});

describe('GitOps attribution end to end', () => {
  it('attributes every change Argo CD and Flux apply to the Application or Kustomization, repository and revision; a hand change says so', async () => {
    // What the test applies, and the origin each change must carry.
    const want: { name: string; action: string; via: string; application: string; repository: string; revision: string }[] = [];
    const argo = (name: string, action: string, revision: string) =>
      want.push({ name, action, via: 'argocd', application: `Application ${argoNs}/ai-gateway`, repository: argoRepo, revision });
    const flux = (name: string, action: string, revision: string) =>
      want.push({ name, action, via: 'flux', application: `Kustomization ${fluxNs}/ai-gateway`, repository: fluxRepo, revision });

    await argoSyncs(sha('a'));
    await expectCreated(env.as(argoController(), 'POST', env.path('secretrules'), rule('argo-keys', 'high', argoTracking('argo-keys'))));
    await expectCreated(env.as(argoController(), 'POST', env.path('secretrules'), rule('argo-old', 'low', argoTracking('argo-old'))));
    argo('argo-keys', 'secret_rule.created', sha('a'));
    argo('argo-old', 'secret_rule.created', sha('a'));

    await fluxFetches(`main@sha1:${sha('b')}`);
    await expectCreated(env.as(fluxController(), 'POST', env.path('secretrules'), rule('flux-keys', 'medium', fluxLabels())));
    flux('flux-keys', 'secret_rule.created', `main@sha1:${sha('b')}`);

    // A person applies by hand between the syncs.
    await expectCreated(
      env.as('alice', 'POST', `${env.path('secretrules')}?fieldManager=kubectl-client-side-apply`, rule('by-hand', 'high', {})),
    );

    // The next commit: Argo CD updates one rule and prunes the other; Flux applies a new artifact.
    await argoSyncs(sha('c'));
    await expectCreated(setSeverity(argoController(), 'argo-keys', 'critical'));
    await expectCreated(env.as(argoController(), 'DELETE', env.path('secretrules', 'argo-old')));
    argo('argo-keys', 'secret_rule.updated', sha('c'));
    argo('argo-old', 'secret_rule.deleted', sha('c'));
    await fluxFetches(`main@sha1:${sha('d')}`);
    await expectCreated(setSeverity(fluxController(), 'flux-keys', 'critical'));
    flux('flux-keys', 'secret_rule.updated', `main@sha1:${sha('d')}`);

    const rows = await until(
      () => env.audit(),
      (all) => want.every((w) => all.some((r) => r.target_name === `${env.namespace}/${w.name}` && r.action === w.action)),
      30_000,
    );
    const gitops = rows.filter((r) => ['argocd', 'flux'].includes(originOf(r)?.via ?? ''));
    const attributed = gitops.filter((r) => {
      const o = originOf(r)!;
      return o.resolved === true && !!o.application && !!o.repository && !!o.revision;
    });
    for (const w of want) {
      const row = rows.find((r) => r.target_name === `${env.namespace}/${w.name}` && r.action === w.action);
      expect(originOf(row!), `${w.action} ${w.name}`).toMatchObject({
        via: w.via,
        application: w.application,
        repository: w.repository,
        revision: w.revision,
        resolved: true,
      });
    }
    // One change, one row: nothing else was attributed to the tools.
    expect(gitops).toHaveLength(want.length);
    const hand = rows.find((r) => r.target_name === `${env.namespace}/by-hand`);
    expect(hand).toMatchObject({ actor: 'alice' });
    expect(originOf(hand!)).toEqual({ via: 'kubectl', fieldManager: 'kubectl-client-side-apply' });

    // Shown in the console and filterable there: by tool, by repository, by the start of a revision.
    if (!existsSync(path.join(webDir, 'dist/index.html'))) {
      const build = spawnSync(process.execPath, [path.join(repoRoot, 'node_modules/vite/bin/vite.js'), 'build'], {
        cwd: webDir,
        encoding: 'utf8',
      });
      if (build.status !== 0) throw new Error(`web build failed:\n${build.stdout}\n${build.stderr}`);
    }
    const console_ = await startTestConsole({ env: { CONSOLE_WEB_DIST: path.join(webDir, 'dist') } });
    await console_.app.listen({ port: 0, host: '127.0.0.1' });
    const consoleUrl = `http://127.0.0.1:${(console_.app.server.address() as AddressInfo).port}`;
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${consoleUrl}/admin/audit-log?origin=argocd`);
      await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
      await page.locator('input[name="email"]').fill(adminEmail);
      await page.locator('input[name="password"]').fill(adminPassword);
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'Audit log' }).waitFor();
      const origins = () => page.locator('table.audit-table tbody tr[data-audit-id] .origin').allInnerTexts();
      const argoApp = `via Argo CD · Application ${argoNs}/ai-gateway`;
      await expect
        .poll(async () => (await origins()).sort())
        .toEqual([`${argoApp} @ aaaaaaa`, `${argoApp} @ aaaaaaa`, `${argoApp} @ ccccccc`, `${argoApp} @ ccccccc`]);
      await page.goto(`${consoleUrl}/admin/audit-log?origin=${encodeURIComponent(`main@sha1:${sha('d').slice(0, 7)}`)}`);
      await expect.poll(origins).toEqual([`via Flux · Kustomization ${fluxNs}/ai-gateway @ main@sha1:${sha('d')}`]);
      expect(await page.locator('.origin').first().getAttribute('title')).toContain(fluxRepo);

      const admin = await console_.signIn();
      const list = async (origin: string) =>
        (
          (await admin.request('GET', `/api/audit?origin=${encodeURIComponent(origin)}&limit=100`)).json.entries as {
            targetName: string;
            action: string;
          }[]
        ).map((e) => `${e.action} ${e.targetName.split('/').at(-1)}`);
      expect((await list('argocd')).sort()).toEqual(
        [
          'secret_rule.created argo-keys',
          'secret_rule.created argo-old',
          'secret_rule.deleted argo-old',
          'secret_rule.updated argo-keys',
        ].sort(),
      );
      expect((await list('fleet.git')).sort()).toEqual(['secret_rule.created flux-keys', 'secret_rule.updated flux-keys'].sort());
      expect(await list(`main@sha1:${sha('d').slice(0, 7)}`)).toEqual(['secret_rule.updated flux-keys']);
      expect(await list('kubectl')).toEqual(['secret_rule.created by-hand']);
    } finally {
      await browser.close();
      await console_.close();
    }
    recordEnterpriseFigures('git', {
      git_attributed_changes: attributed.length,
      git_changes: gitops.length,
      hand_changes: rows.filter((r) => originOf(r)?.via === 'kubectl').length,
    });
    expect(attributed).toHaveLength(want.length);
  });
});
