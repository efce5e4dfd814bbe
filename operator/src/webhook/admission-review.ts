import { stableStringify } from '@codevector/core/audit-diff';
import { changedByAnnotation, finalizerName } from '../kinds.ts';

export type AdmissionRequest = {
  uid: string;
  kind: { group: string; version: string; kind: string };
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  userInfo: { username?: string; groups?: string[] };
  namespace?: string;
  name?: string;
  object?: AdmittedObject | null;
  oldObject?: AdmittedObject | null;
  dryRun?: boolean;
};

type AdmittedObject = {
  metadata?: { uid?: string; name?: string; namespace?: string; annotations?: Record<string, string>; finalizers?: string[] };
  spec?: unknown;
  data?: unknown;
  stringData?: unknown;
};

export type JsonPatchOp = { op: 'add' | 'remove' | 'replace'; path: string; value?: unknown };

const annotationPath = `/metadata/annotations/${changedByAnnotation.replace(/~/g, '~0').replace(/\//g, '~1')}`;

/**
 * The actor stamp (DESIGN §5.3) as a pure function of the admission request. CREATE and
 * content-changing UPDATEs get the requesting user; every other UPDATE gets the previous stamp
 * back, so a client can never write its own value into the annotation. Custom resources also
 * get the finalizer on CREATE, which saves the operator a write per new object.
 */
export function stampPatch(request: AdmissionRequest, options: { content: 'spec' | 'secret' }): JsonPatchOp[] {
  const object = request.object ?? {};
  const annotations = object.metadata?.annotations;
  const user = request.userInfo.username ?? 'unknown';
  let stamp: string | undefined;
  if (request.operation === 'CREATE') {
    stamp = user;
  } else {
    const old = request.oldObject ?? {};
    const changed =
      options.content === 'spec'
        ? stableStringify(old.spec ?? null) !== stableStringify(object.spec ?? null)
        : stableStringify(old.data ?? null) !== stableStringify(object.data ?? null) || object.stringData !== undefined;
    stamp = changed ? user : old.metadata?.annotations?.[changedByAnnotation];
  }
  const ops: JsonPatchOp[] = [];
  if (stamp === undefined) {
    if (annotations?.[changedByAnnotation] !== undefined) ops.push({ op: 'remove', path: annotationPath });
  } else if (annotations === undefined || annotations === null) {
    ops.push({ op: 'add', path: '/metadata/annotations', value: { [changedByAnnotation]: stamp } });
  } else if (annotations[changedByAnnotation] !== stamp) {
    ops.push({ op: 'add', path: annotationPath, value: stamp });
  }
  if (options.content === 'spec' && request.operation === 'CREATE') {
    const finalizers = object.metadata?.finalizers;
    if (!finalizers) ops.push({ op: 'add', path: '/metadata/finalizers', value: [finalizerName] });
    else if (!finalizers.includes(finalizerName)) ops.push({ op: 'add', path: '/metadata/finalizers/-', value: finalizerName });
  }
  return ops;
}
