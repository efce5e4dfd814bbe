import type { KubeObject } from '../kube/kube-client.ts';

export type KstatusResult = { status: 'Current' | 'InProgress' | 'Failed'; message: string };

/**
 * The kstatus rules (sigs.k8s.io/cli-utils/pkg/kstatus, the library behind `kubectl wait`-style
 * tooling, Flux's health checks and kpt) for a custom resource with standard conditions:
 * InProgress while status.observedGeneration trails metadata.generation, while Reconciling is
 * True, or while Ready is missing or Unknown; Failed when Stalled is True or Ready is False;
 * Current when Ready is True for the current generation. For tests: every Ready CodeVector
 * resource must read as Current.
 */
export function kstatus(object: KubeObject): KstatusResult {
  const status = (object.status ?? {}) as { observedGeneration?: number; conditions?: Condition[] };
  const generation = object.metadata.generation;
  if (generation !== undefined && status.observedGeneration !== generation) {
    return { status: 'InProgress', message: `observedGeneration ${status.observedGeneration ?? 'unset'} != generation ${generation}` };
  }
  const conditions = status.conditions ?? [];
  const find = (type: string) => conditions.find((c) => c.type === type);
  if (find('Reconciling')?.status === 'True') return { status: 'InProgress', message: find('Reconciling')?.message ?? 'Reconciling' };
  if (find('Stalled')?.status === 'True') return { status: 'Failed', message: find('Stalled')?.message ?? 'Stalled' };
  const ready = find('Ready');
  if (!ready || ready.status === 'Unknown') return { status: 'InProgress', message: 'Ready condition missing or Unknown' };
  if (ready.observedGeneration !== undefined && generation !== undefined && ready.observedGeneration !== generation) {
    return { status: 'InProgress', message: `Ready is for generation ${ready.observedGeneration}` };
  }
  if (ready.status === 'False') return { status: 'Failed', message: `${ready.reason}: ${ready.message}` };
  return { status: 'Current', message: ready.message ?? 'Ready' };
}

type Condition = { type: string; status: string; reason?: string; message?: string; observedGeneration?: number };
