import { apiVersion, type ResourceKindName, resourceKinds } from '@codevector/crds';
import type { z } from 'zod';

export type KindName = ResourceKindName;
/** The audit log's target type of each kind (audit_log.target_type). */
export type AuditTarget = 'provider' | 'model' | 'budget' | 'rate_limit' | 'secret_rule' | 'audit_sink';

export type OperatorKind = {
  kind: KindName;
  plural: string;
  target: AuditTarget;
  specSchema: z.ZodType;
};

const targets: Record<KindName, AuditTarget> = {
  Provider: 'provider',
  Model: 'model',
  Budget: 'budget',
  RateLimit: 'rate_limit',
  SecretRule: 'secret_rule',
  AuditSink: 'audit_sink',
};

/** The five kinds the operator reconciles, in dependency order (a Model needs its Provider). */
export const operatorKinds: readonly OperatorKind[] = resourceKinds.map((k) => ({
  kind: k.kind,
  plural: k.plural,
  target: targets[k.kind],
  specSchema: k.specSchema,
}));

export const kindByName = new Map<string, OperatorKind>(operatorKinds.map((k) => [k.kind, k]));
export { apiVersion };

/** Work-queue keys are `Kind/namespace/name`. */
export function keyOf(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

export function parseKey(key: string): { kind: OperatorKind; namespace: string; name: string } {
  const [kind = '', namespace = '', name = ''] = key.split('/');
  const found = kindByName.get(kind);
  if (!found) throw new Error(`unknown kind in key ${key}`);
  return { kind: found, namespace, name };
}

/** The finalizer that guarantees `<kind>.deleted` is recorded before an object disappears. */
export const finalizerName = 'codevector.dev/finalizer';
/** Stamped by the admission webhook: the Kubernetes user behind the latest spec change. */
export const changedByAnnotation = 'codevector.dev/changed-by';
/** Put on Secrets referenced by Providers so the operator watches only those. */
export const providerSecretLabel = 'codevector.dev/provider-secret';
