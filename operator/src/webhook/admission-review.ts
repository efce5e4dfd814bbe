import { stableStringify } from '@codevector/core/audit-diff';
import { changedByAnnotation, finalizerName } from '../kinds.ts';
import { type ChangeOrigin, changedViaAnnotation } from './change-origin.ts';

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
  /** CreateOptions / UpdateOptions / PatchOptions / DeleteOptions of the request (fieldManager). */
  options?: { fieldManager?: string } | null;
};

type AdmittedObject = {
  metadata?: {
    uid?: string;
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
  };
  spec?: unknown;
  data?: unknown;
  stringData?: unknown;
};

export type JsonPatchOp = { op: 'add' | 'remove' | 'replace'; path: string; value?: unknown };

const annotationPath = (name: string) => `/metadata/annotations/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`;

/**
 * The actor stamp (DESIGN §5.3) and the change's origin (change-origin.ts) as a pure function of
 * the admission request. CREATE and content-changing UPDATEs get the requesting user and the
 * origin resolved for this request; every other UPDATE gets the previous stamps back, so a client
 * can never write its own value into either annotation. Custom resources also get the finalizer
 * on CREATE, which saves the operator a write per new object.
 */
export function stampPatch(request: AdmissionRequest, options: { content: 'spec' | 'secret'; origin?: ChangeOrigin }): JsonPatchOp[] {
  const object = request.object ?? {};
  const old = request.oldObject ?? {};
  let stamps: Record<string, string | undefined>;
  if (stampsNewActor(request, options.content)) {
    stamps = {
      [changedByAnnotation]: request.userInfo.username ?? 'unknown',
      [changedViaAnnotation]: options.origin ? JSON.stringify(options.origin) : undefined,
    };
  } else {
    const previous = old.metadata?.annotations;
    stamps = { [changedByAnnotation]: previous?.[changedByAnnotation], [changedViaAnnotation]: previous?.[changedViaAnnotation] };
  }
  const ops: JsonPatchOp[] = [];
  const annotations = object.metadata?.annotations;
  if (annotations === undefined || annotations === null) {
    const wanted = Object.fromEntries(Object.entries(stamps).filter(([, v]) => v !== undefined));
    if (Object.keys(wanted).length > 0) ops.push({ op: 'add', path: '/metadata/annotations', value: wanted });
  } else {
    for (const [name, stamp] of Object.entries(stamps)) {
      if (stamp === undefined) {
        if (annotations[name] !== undefined) ops.push({ op: 'remove', path: annotationPath(name) });
      } else if (annotations[name] !== stamp) {
        ops.push({ op: 'add', path: annotationPath(name), value: stamp });
      }
    }
  }
  if (options.content === 'spec' && request.operation === 'CREATE') {
    const finalizers = object.metadata?.finalizers;
    if (!finalizers) ops.push({ op: 'add', path: '/metadata/finalizers', value: [finalizerName] });
    else if (!finalizers.includes(finalizerName)) ops.push({ op: 'add', path: '/metadata/finalizers/-', value: finalizerName });
  }
  return ops;
}

/** True when the request is a change the stamps name anew (CREATE, or content changed). */
export function stampsNewActor(request: AdmissionRequest, content: 'spec' | 'secret'): boolean {
  if (request.operation === 'CREATE') return true;
  const old = request.oldObject ?? {};
  const object = request.object ?? {};
  return content === 'spec'
    ? stableStringify(old.spec ?? null) !== stableStringify(object.spec ?? null)
    : stableStringify(old.data ?? null) !== stableStringify(object.data ?? null) || object.stringData !== undefined;
}
