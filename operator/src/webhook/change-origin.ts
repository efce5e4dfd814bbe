import { z } from 'zod';
import type { AdmissionRequest } from './admission-review.ts';

/**
 * Where a change came from (issue #13 §4): which GitOps delivery unit applied it, from which
 * repository and revision, or that a person applied it by hand and with which tool. Resolved by
 * the admission webhook at the moment of the change (a later look at the Application would name
 * a later revision), stamped on the object next to the actor, and copied into the audit row's
 * `detail.origin`.
 */
export const changeOriginSchema = z.object({
  /** argocd and flux: a GitOps controller applied it; helm, kubectl, api: a client did. */
  via: z.enum(['argocd', 'flux', 'helm', 'kubectl', 'api']),
  /** The delivery unit as `Kind namespace/name`: an Argo CD Application, a Flux Kustomization or HelmRelease, a Helm release. */
  application: z.string().optional(),
  repository: z.string().optional(),
  revision: z.string().optional(),
  path: z.string().optional(),
  /** The client's field manager (`kubectl-client-side-apply`, `helm`, ...), for hand changes. */
  fieldManager: z.string().optional(),
  /** False when the delivery unit could not be read (not found, no RBAC, timed out). */
  resolved: z.boolean().optional(),
});
export type ChangeOrigin = z.infer<typeof changeOriginSchema>;

/** The stamp's annotation: JSON of a ChangeOrigin, written only by the webhook (like changed-by). */
export const changedViaAnnotation = 'codevector.dev/changed-via';

/**
 * Reads one object of a GitOps tool's API (Application, Kustomization, GitRepository, ...), or
 * null when it does not exist. Throws on other failures (RBAC, timeouts): origin stays unresolved.
 */
export type ObjectLookup = (ref: {
  group: string;
  version: string;
  plural: string;
  namespace: string;
  name: string;
}) => Promise<Record<string, unknown> | null>;

/**
 * Which users are GitOps controllers, as `tool=username` patterns with `*` for one name
 * segment. A tracking label or annotation alone proves nothing (anyone can copy one into a
 * manifest), so a change counts as Argo CD's or Flux's only when that controller made it; the
 * same manifest applied by a person is recorded as that person's hand change.
 */
export const defaultGitOpsControllers =
  'argocd=system:serviceaccount:*:argocd-application-controller,flux=system:serviceaccount:*:kustomize-controller,flux=system:serviceaccount:*:helm-controller';

export type GitOpsControllers = { tool: 'argocd' | 'flux'; pattern: RegExp }[];

export function parseGitOpsControllers(text: string): GitOpsControllers {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const [tool, user] = entry.split('=', 2);
      if ((tool !== 'argocd' && tool !== 'flux') || !user)
        throw new Error(`GitOps controller "${entry}" is not argocd=<user> or flux=<user>`);
      const escaped = user.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'));
      return { tool, pattern: new RegExp(`^${escaped.join('[^:]*')}$`) };
    });
}

type Metadata = { namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
type Ref = { kind: string; group: string; version: string; plural: string; namespace: string; name: string };

const maxField = 512;
const clip = (value: unknown): string | undefined => (typeof value === 'string' && value ? value.slice(0, maxField) : undefined);
const at = (value: unknown, ...path: (string | number)[]): unknown => {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
};

const application = (namespace: string, name: string): Ref => ({
  kind: 'Application',
  group: 'argoproj.io',
  version: 'v1alpha1',
  plural: 'applications',
  namespace,
  name,
});

/** The delivery unit a controller's change names, from the object's tracking metadata. */
function deliveryUnit(tool: 'argocd' | 'flux', username: string, meta: Metadata): Ref | null {
  const labels = meta.labels ?? {};
  const annotations = meta.annotations ?? {};
  if (tool === 'argocd') {
    // Annotation tracking (Argo CD's default): `<app>:<group>/<kind>:<namespace>/<name>`, where
    // <app> is `<namespace>_<name>` for Applications outside Argo CD's own namespace. Label
    // tracking: the app name in argocd.argoproj.io/instance or app.kubernetes.io/instance.
    const tracked =
      annotations['argocd.argoproj.io/tracking-id']?.split(':')[0] ??
      labels['argocd.argoproj.io/instance'] ??
      labels['app.kubernetes.io/instance'];
    if (!tracked) return null;
    const controllerNamespace = username.split(':')[2] ?? 'argocd';
    const split = tracked.indexOf('_');
    return split > 0 ? application(tracked.slice(0, split), tracked.slice(split + 1)) : application(controllerNamespace, tracked);
  }
  const ks = labels['kustomize.toolkit.fluxcd.io/name'];
  if (ks) {
    const namespace = labels['kustomize.toolkit.fluxcd.io/namespace'] ?? meta.namespace ?? 'flux-system';
    return { kind: 'Kustomization', group: 'kustomize.toolkit.fluxcd.io', version: 'v1', plural: 'kustomizations', namespace, name: ks };
  }
  const hr = labels['helm.toolkit.fluxcd.io/name'];
  if (hr) {
    const namespace = labels['helm.toolkit.fluxcd.io/namespace'] ?? meta.namespace ?? 'flux-system';
    return { kind: 'HelmRelease', group: 'helm.toolkit.fluxcd.io', version: 'v2', plural: 'helmreleases', namespace, name: hr };
  }
  return null;
}

const fluxSources: Record<string, { plural: string; versions: string[] }> = {
  GitRepository: { plural: 'gitrepositories', versions: ['v1'] },
  OCIRepository: { plural: 'ocirepositories', versions: ['v1', 'v1beta2'] },
  Bucket: { plural: 'buckets', versions: ['v1', 'v1beta2'] },
  HelmRepository: { plural: 'helmrepositories', versions: ['v1'] },
};

/** A Flux source object (GitRepository, OCIRepository, ...), trying the API versions Flux serves. */
async function fluxSource(lookup: ObjectLookup, sourceRef: unknown, defaultNamespace: string) {
  const kind = String(at(sourceRef, 'kind') ?? '');
  const name = clip(at(sourceRef, 'name'));
  const known = fluxSources[kind];
  if (!known || !name) return null;
  const namespace = clip(at(sourceRef, 'namespace')) ?? defaultNamespace;
  for (const version of known.versions) {
    const found = await lookup({ group: 'source.toolkit.fluxcd.io', version, plural: known.plural, namespace, name });
    if (found) return found;
  }
  return null;
}

/** Repository, revision and path as the delivery unit names them at this moment. */
async function describeUnit(lookup: ObjectLookup, unit: Ref): Promise<Partial<ChangeOrigin> | null> {
  const object = await lookup(unit);
  if (!object) return null;
  if (unit.kind === 'Application') {
    // During a sync the operation names the revision being applied; after it, syncResult and
    // sync status do. Multi-source Applications list one per source.
    const sources = (at(object, 'spec', 'sources') as unknown[] | undefined) ?? [at(object, 'spec', 'source')];
    const single = (value: unknown) => (Array.isArray(value) ? value.join(',') : value);
    return {
      repository: clip(
        sources
          .map((s) => at(s, 'repoURL'))
          .filter(Boolean)
          .join(','),
      ),
      path: clip(
        sources
          .map((s) => at(s, 'path') ?? at(s, 'chart'))
          .filter(Boolean)
          .join(','),
      ),
      revision: clip(
        single(
          at(object, 'status', 'operationState', 'operation', 'sync', 'revision') ??
            at(object, 'status', 'operationState', 'operation', 'sync', 'revisions') ??
            at(object, 'status', 'operationState', 'syncResult', 'revision') ??
            at(object, 'status', 'operationState', 'syncResult', 'revisions') ??
            at(object, 'status', 'sync', 'revision') ??
            at(object, 'status', 'sync', 'revisions'),
        ),
      ),
    };
  }
  if (unit.kind === 'Kustomization') {
    // The source's artifact is what the controller is applying now; lastAttemptedRevision lags it.
    const source = await fluxSource(lookup, at(object, 'spec', 'sourceRef'), unit.namespace);
    return {
      repository: clip(at(source, 'spec', 'url')),
      path: clip(at(object, 'spec', 'path')),
      revision: clip(at(source, 'status', 'artifact', 'revision') ?? at(object, 'status', 'lastAttemptedRevision')),
    };
  }
  // HelmRelease: the chart's source and the chart version being installed.
  const chartSpec = at(object, 'spec', 'chart', 'spec');
  const source = await fluxSource(lookup, at(chartSpec, 'sourceRef') ?? at(object, 'spec', 'chartRef'), unit.namespace);
  return {
    repository: clip(at(source, 'spec', 'url')),
    path: clip(at(chartSpec, 'chart')),
    revision: clip(at(object, 'status', 'lastAttemptedRevision') ?? at(chartSpec, 'version')),
  };
}

/**
 * The origin of an admitted CREATE/UPDATE/DELETE. Never throws and never takes longer than
 * `timeoutMs`: an origin that can't be read is recorded as unresolved, and the change goes on
 * (attribution of the actor, not of the origin, is what admission may refuse for).
 */
export async function resolveChangeOrigin(
  request: AdmissionRequest,
  options: { controllers: GitOpsControllers; lookup: ObjectLookup; timeoutMs?: number },
): Promise<ChangeOrigin> {
  const username = request.userInfo.username ?? '';
  const meta: Metadata = (request.operation === 'DELETE' ? request.oldObject?.metadata : request.object?.metadata) ?? {};
  const tool = options.controllers.find((c) => c.pattern.test(username))?.tool;
  const unit = tool ? deliveryUnit(tool, username, meta) : null;
  if (tool && unit) {
    const base: ChangeOrigin = { via: tool, application: `${unit.kind} ${unit.namespace}/${unit.name}` };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), options.timeoutMs ?? 2000);
    });
    try {
      const described = await Promise.race([describeUnit(options.lookup, unit), timeout]);
      if (!described) return { ...base, resolved: false };
      const found = Object.fromEntries(Object.entries(described).filter(([, v]) => v !== undefined));
      return { ...base, ...found, resolved: true };
    } catch {
      return { ...base, resolved: false };
    } finally {
      clearTimeout(timer);
    }
  }
  if (tool) return { via: tool, resolved: false };
  const fieldManager = clip(at(request, 'options', 'fieldManager'));
  const annotations = meta.annotations ?? {};
  if (fieldManager === 'helm' || meta.labels?.['app.kubernetes.io/managed-by'] === 'Helm') {
    const release = clip(annotations['meta.helm.sh/release-name']);
    const releaseNamespace = clip(annotations['meta.helm.sh/release-namespace']) ?? meta.namespace ?? request.namespace ?? '';
    return {
      via: 'helm',
      ...(release ? { application: `HelmRelease ${releaseNamespace}/${release}` } : {}),
      ...(fieldManager ? { fieldManager } : {}),
    };
  }
  if (fieldManager?.startsWith('kubectl')) return { via: 'kubectl', fieldManager };
  return { via: 'api', ...(fieldManager ? { fieldManager } : {}) };
}

/** The stamped origin of an object, or undefined when it has none or it does not parse. */
export function readChangeOrigin(annotations: Record<string, string> | undefined): ChangeOrigin | undefined {
  const text = annotations?.[changedViaAnnotation];
  if (!text) return undefined;
  try {
    const parsed = changeOriginSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
