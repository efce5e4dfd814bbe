import type { DatabasePool } from '@codevector/core/create-pool';
import { CodeVectorError } from '@codevector/core/errors';
import type { Logger } from '@codevector/core/logger';
import type { SecretBox } from '@codevector/core/secret-box';
import { finalizerName, keyOf, type OperatorKind, parseKey } from './kinds.ts';
import type { KubeObject } from './kube/kube-client.ts';
import type { OperatorMetrics } from './operator-metrics.ts';
import { type InstallationPolicy, modelNames, resolveDesired, waitingRetryMs } from './resolve-desired.ts';
import type { ResourceSource, ResourceStatus } from './resource-source.ts';
import { readyCondition } from './status-condition.ts';
import { type StoreResult, storeResource, withdrawResource } from './store-resource.ts';
import type { WorkResult } from './work-queue.ts';

export type ReconcilerDeps = {
  db: DatabasePool;
  source: ResourceSource;
  secretBox: SecretBox;
  log: Logger;
  enqueue(key: string): void;
  /** Called after every committed change (tests and the benchmark observe it). */
  onCommitted?(key: string, result: StoreResult): void;
  /** AuditSinks are reconciled this often to refresh their delivery progress (status only, no rows). */
  budgetStatusMs: number;
  /** The installation namespace and the Provider baseURL allow-list (ADR 0120). */
  policy: InstallationPolicy;
  now?: () => Date;
  metrics?: OperatorMetrics;
};

export type Reconciler = { reconcile(key: string): Promise<WorkResult> };

/**
 * One reconcile of one key: resolve what the source declares → store it (load, pure plan, one
 * transaction with the audit row) → report status. Status is written in exactly one place
 * (`report`), after the transaction, so it never claims more than what committed.
 */
export function createReconciler(deps: ReconcilerDeps): Reconciler {
  const { db, source } = deps;

  async function report(kind: OperatorKind, object: KubeObject, status: ResourceStatus, warn = true): Promise<void> {
    const previous = readyCondition(object);
    try {
      await source.writeStatus(kind.kind, object, status);
      deps.metrics?.statusWrite(kind.kind, 'ok');
    } catch (error) {
      deps.metrics?.statusWrite(kind.kind, 'error');
      throw error;
    }
    if (kind.kind === 'AuditSink' && status.ready && status.extra) deps.metrics?.auditSink(object.metadata.name, status.extra);
    if (kind.kind === 'Budget' && status.extra) {
      deps.metrics?.budget(object.metadata.namespace ?? '', object.metadata.name, {
        ...status.extra,
        amountUSD: (object.spec as { amountUSD?: unknown } | undefined)?.amountUSD,
      });
    }
    if (warn && !status.ready && (previous?.reason !== status.reason || previous?.message !== status.message)) {
      await source.recordWarning(kind.kind, object, status.reason, status.message);
    }
  }

  function enqueueDependents(kind: OperatorKind, namespace: string, name: string, object?: KubeObject): void {
    if (kind.kind === 'Model') {
      // A name changed hands or was freed: the other claimants decide again (oldest wins).
      const names = object ? modelNames(object) : [];
      for (const other of source.list('Model')) {
        if (other.metadata.namespace === namespace && other.metadata.name === name) continue;
        if (readyCondition(other)?.reason === 'ModelNameConflict' || modelNames(other).some((n) => names.includes(n))) {
          deps.enqueue(keyOf('Model', other.metadata.namespace ?? '', other.metadata.name));
        }
      }
      return;
    }
    if (kind.kind !== 'Provider') return;
    // Models it serves, first or as a fallback (their status.routing names it).
    for (const model of source.list('Model')) {
      const spec = model.spec as { providerRef?: { name?: string }; fallbacks?: { providerRef?: { name?: string } }[] } | undefined;
      const refs = [spec?.providerRef?.name, ...(Array.isArray(spec?.fallbacks) ? spec.fallbacks.map((f) => f?.providerRef?.name) : [])];
      if (model.metadata.namespace === namespace && refs.includes(name)) deps.enqueue(keyOf('Model', namespace, model.metadata.name));
    }
  }

  async function remove(kind: OperatorKind, namespace: string, name: string, object: KubeObject | undefined): Promise<void> {
    const actor = await source.deleteActor(kind.kind, namespace, name, object?.metadata.uid);
    const result = await storeResource(db, { target: kind.target, namespace, name, desired: null, actor });
    if (kind.kind === 'Budget') deps.metrics?.budgetGone(namespace, name);
    if (kind.kind === 'AuditSink') deps.metrics?.auditSinkGone(name);
    if (result.plan.type !== 'none') {
      deps.metrics?.committed(kind.kind, result.plan.type);
      deps.log.info({ kind: kind.kind, namespace, name, actor: actor.actor }, 'row deleted');
      deps.onCommitted?.(keyOf(kind.kind, namespace, name), result);
      enqueueDependents(kind, namespace, name, object);
    } else if (kind.kind === 'Model') {
      // A Model that never got a row (it was waiting) still held its names against newer claimants.
      enqueueDependents(kind, namespace, name, object);
    }
    if (object) await source.removeFinalizer(kind.kind, object);
  }

  return {
    async reconcile(key) {
      const { kind, namespace, name } = parseKey(key);
      const object = source.get(kind.kind, namespace, name);
      const log = deps.log.child({ kind: kind.kind, namespace, name, generation: object?.metadata.generation });
      if (!object) {
        await remove(kind, namespace, name, undefined);
        return;
      }
      if (object.metadata.deletionTimestamp) {
        // Someone else's finalizer may keep it; ours is gone once the delete is recorded.
        if (object.metadata.finalizers?.includes(finalizerName)) await remove(kind, namespace, name, object);
        return;
      }
      await source.ensureFinalizer(kind.kind, object);

      const resolution = await resolveDesired(kind, object, {
        source,
        db,
        uid: object.metadata.uid,
        now: deps.now ?? (() => new Date()),
        policy: deps.policy,
      });
      if (!resolution.ok) {
        // Waiting on a dependency that is being reconciled (a Model before its Provider, as on
        // every start): this reconcile runs again when it is stored, so nobody needs telling.
        if (resolution.transient) log.debug({ reason: resolution.reason, detail: resolution.message }, 'resource waiting');
        else log.warn({ reason: resolution.reason, detail: resolution.message }, 'resource not ready');
        if (resolution.refusal) {
          const withdrawn = await withdrawResource(db, {
            target: kind.target,
            namespace,
            name,
            uid: object.metadata.uid,
            verb: resolution.refusal,
            reason: resolution.reason,
            message: resolution.message,
            announce: readyCondition(object)?.reason !== resolution.reason,
          });
          if (withdrawn.withdrawn) {
            log.info({ reason: resolution.reason }, 'row withdrawn');
            enqueueDependents(kind, namespace, name, object);
          }
        }
        await report(
          kind,
          object,
          { ready: false, reason: resolution.reason, message: resolution.message, extra: resolution.statusExtra },
          !resolution.transient,
        );
        // Waiting on something that may appear without an event we watch (an unlabeled Secret).
        return resolution.waiting ? { requeueAfterMs: waitingRetryMs } : undefined;
      }

      let result: StoreResult;
      try {
        result = await storeResource(db, {
          target: kind.target,
          namespace,
          name,
          desired: resolution.desired,
          actor: source.changeActor(object),
          actorFor: (plan) =>
            // A key rotation without a spec change is the Secret's editor's doing.
            kind.kind === 'Provider' && plan.type === 'update' && onlyKeyChanged(plan.detail)
              ? source.changeActor(object, resolution.secretName)
              : source.changeActor(object),
          replacedActor: { actor: 'system', actorSource: 'system' },
          sealApiKey: resolution.apiKey === null ? undefined : () => deps.secretBox.seal(resolution.apiKey!),
        });
      } catch (error) {
        const message =
          error instanceof CodeVectorError
            ? `${error.message} (${(error.cause as Error | undefined)?.message ?? 'no detail'}); retrying.`
            : `Could not store the resource: ${(error as Error).message}; retrying.`;
        log.error({ err: error }, 'store failed');
        await report(kind, object, { ready: false, reason: 'StoreFailed', message, extra: resolution.statusExtra }).catch(
          (statusError: unknown) => log.warn({ err: statusError }, 'status write failed'),
        );
        throw error;
      }
      if (result.plan.type !== 'none') {
        deps.metrics?.committed(kind.kind, result.plan.type);
        log.info({ change: result.plan.type, configVersion: result.configVersion }, 'row stored');
        deps.onCommitted?.(key, result);
        enqueueDependents(kind, namespace, name, object);
      }
      if (result.plan.type === 'none' && result.plan.why === 'stale') {
        log.info('stale view of the resource; not regressing the stored row');
        return;
      }
      await report(kind, object, {
        ready: true,
        reason: 'Reconciled',
        message: readyMessage(kind, namespace, deps.policy.installationNamespace),
        extra: resolution.statusExtra,
      });
      // Delivery progress changes without a spec change: refresh its status. Budget, RateLimit and
      // Provider figures are re-read when what they come from moved (live-status-watch.ts).
      return kind.kind === 'AuditSink' ? { requeueAfterMs: deps.budgetStatusMs } : undefined;
    },
  };
}

function onlyKeyChanged(detail: { before: unknown; after: unknown }): boolean {
  const after = detail.after as Record<string, unknown> | null;
  return after !== null && Object.keys(after).length === 1 && 'keyFingerprint' in after;
}

/** Says whose traffic a policy governs (ADR 0120), so `kubectl get` shows a team its reach. */
function readyMessage(kind: OperatorKind, namespace: string, installationNamespace: string): string {
  if (kind.kind !== 'Budget' && kind.kind !== 'RateLimit' && kind.kind !== 'SecretRule') return 'Stored; gateways enforce it.';
  return namespace === installationNamespace
    ? 'Stored; gateways enforce it for the Models of every namespace (installation namespace).'
    : `Stored; gateways enforce it for the Models of namespace "${namespace}" only.`;
}
