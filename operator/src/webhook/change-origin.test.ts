import { describe, expect, it } from 'vitest';
import type { AdmissionRequest } from './admission-review.ts';
import { defaultGitOpsControllers, parseGitOpsControllers, readChangeOrigin, resolveChangeOrigin } from './change-origin.ts';

// The pure parts: who counts as a controller, which delivery unit metadata names, and how a
// client's own tool is named. change-origin.kube.test.ts covers the lookups against real CRDs.
const controllers = parseGitOpsControllers(defaultGitOpsControllers);
const request = (username: string, metadata: Record<string, unknown>, options?: Record<string, string>): AdmissionRequest => ({
  uid: '1',
  kind: { group: 'codevector.dev', version: 'v1alpha1', kind: 'Model' },
  operation: 'CREATE',
  userInfo: { username },
  namespace: 'team-a',
  object: { metadata: { namespace: 'team-a', ...metadata } },
  ...(options ? { options } : {}),
});
const seen: string[] = [];
const lookup = async (ref: { namespace: string; name: string; plural: string }) => {
  seen.push(`${ref.plural} ${ref.namespace}/${ref.name}`);
  return null;
};

describe('GitOps controllers', () => {
  it('match one name segment per *, nothing more', () => {
    const [argo] = controllers;
    expect(argo?.pattern.test('system:serviceaccount:argocd:argocd-application-controller')).toBe(true);
    expect(argo?.pattern.test('system:serviceaccount:a:b:argocd-application-controller')).toBe(false);
    expect(argo?.pattern.test('system:serviceaccount:argocd:argocd-application-controller-evil')).toBe(false);
    expect(() => parseGitOpsControllers('jenkins=system:serviceaccount:ci:jenkins')).toThrow(/argocd=<user>/);
  });
});

describe('resolveChangeOrigin', () => {
  it("reads Argo CD's apps-in-any-namespace tracking id as <namespace>_<app>", async () => {
    seen.length = 0;
    const origin = await resolveChangeOrigin(
      request('system:serviceaccount:argocd:argocd-application-controller', {
        annotations: { 'argocd.argoproj.io/tracking-id': 'team-a_gateway:codevector.dev/Model:team-a/m' },
      }),
      { controllers, lookup },
    );
    expect(seen).toEqual(['applications team-a/gateway']);
    expect(origin).toEqual({ via: 'argocd', application: 'Application team-a/gateway', resolved: false });
  });

  it("falls back to label tracking, in the controller's own namespace", async () => {
    seen.length = 0;
    await resolveChangeOrigin(
      request('system:serviceaccount:gitops:argocd-application-controller', { labels: { 'app.kubernetes.io/instance': 'fleet' } }),
      { controllers, lookup },
    );
    expect(seen).toEqual(['applications gitops/fleet']);
  });

  it('names a Helm release installed by hand, and kubectl and other clients by field manager', async () => {
    const helm = request(
      'alice',
      {
        labels: { 'app.kubernetes.io/managed-by': 'Helm' },
        annotations: { 'meta.helm.sh/release-name': 'ai', 'meta.helm.sh/release-namespace': 'platform' },
      },
      { fieldManager: 'helm' },
    );
    expect(await resolveChangeOrigin(helm, { controllers, lookup })).toEqual({
      via: 'helm',
      application: 'HelmRelease platform/ai',
      fieldManager: 'helm',
    });
    expect(await resolveChangeOrigin(request('bob', {}, { fieldManager: 'kubectl-edit' }), { controllers, lookup })).toEqual({
      via: 'kubectl',
      fieldManager: 'kubectl-edit',
    });
    expect(await resolveChangeOrigin(request('ci-bot', {}, { fieldManager: 'terraform' }), { controllers, lookup })).toEqual({
      via: 'api',
      fieldManager: 'terraform',
    });
  });

  it('gives up after the timeout without failing the change', async () => {
    const slow = () => new Promise<null>(() => {});
    const origin = await resolveChangeOrigin(
      request('system:serviceaccount:flux-system:kustomize-controller', {
        labels: { 'kustomize.toolkit.fluxcd.io/name': 'apps', 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system' },
      }),
      { controllers, lookup: slow, timeoutMs: 50 },
    );
    expect(origin).toEqual({ via: 'flux', application: 'Kustomization flux-system/apps', resolved: false });
  });

  it('reads back only well-formed stamps', () => {
    expect(readChangeOrigin({ 'codevector.dev/changed-via': '{"via":"kubectl"}' })).toEqual({ via: 'kubectl' });
    expect(readChangeOrigin({ 'codevector.dev/changed-via': '{"via":"ftp"}' })).toBeUndefined();
    expect(readChangeOrigin({ 'codevector.dev/changed-via': 'not json' })).toBeUndefined();
  });
});
