import type { KubeObject } from './kube/kube-client.ts';

export type ReadyCondition = {
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
};

/** The object's `Ready` condition, if it has one (read by the reconciler and by the status writer in kube/). */
export function readyCondition(object: KubeObject): ReadyCondition | undefined {
  const conditions = (object.status?.['conditions'] ?? []) as ({ type: string } & ReadyCondition)[];
  return conditions.find((c) => c.type === 'Ready');
}
