import { stableStringify } from '@codevector/core/audit-diff';
import { type DatabasePool, sql, statement } from '@codevector/core/create-pool';
import type { Logger } from '@codevector/core/logger';
import type { V1Secret } from '@kubernetes/client-node';
import { z } from 'zod';
import type { Actor } from '../actor.ts';
import { apiVersion, changedByAnnotation, finalizerName, type KindName, keyOf, operatorKinds, providerSecretLabel } from '../kinds.ts';
import type { ResourceSource, ResourceStatus } from '../resource-source.ts';
import { readyCondition } from '../status-condition.ts';
import { changeOriginSchema, readChangeOrigin } from '../webhook/change-origin.ts';
import { createInformer, type Informer } from './informer.ts';
import { apiStatus, type KubeClient, type KubeObject, mergePatch } from './kube-client.ts';

export type KubeSourceOptions = {
  client: KubeClient;
  db: DatabasePool;
  log: Logger;
  /** Watch these namespaces only (one informer per kind and namespace); undefined = the whole cluster. */
  namespaces?: readonly string[];
  enqueue(key: string): void;
  resyncMs: number;
  watchTimeoutSeconds?: number;
  /** Reported as the source of Events. */
  instance: string;
};

export type KubeSource = ResourceSource & {
  start(): void;
  synced(): Promise<void>;
  stop(): Promise<void>;
};

const unknownActor: Actor = { actor: 'unknown', actorSource: 'kubernetes' };

/**
 * The cluster as a ResourceSource: one informer per kind (per watched namespace) plus one for
 * the Secrets their owners marked for CodeVector (label `codevector.dev/provider-secret=true`),
 * so the operator never caches every Secret in the cluster. The mark is the owner's consent: the
 * operator never sets it, and a Provider naming an unmarked Secret is refused (ADR 0120).
 * Events become work-queue keys; status, finalizers and Events go back through the apiserver.
 */
export function createKubeSource(options: KubeSourceOptions): KubeSource {
  const { client, log } = options;
  const group = `/apis/${apiVersion}`;
  const [apiGroup = '', version = ''] = apiVersion.split('/');
  // Every namespace, or one informer per watched namespace: the operator then needs list/watch
  // (and, for Secrets, read) rights in those namespaces only.
  const nsPaths = options.namespaces ? options.namespaces.map((ns) => `/namespaces/${ns}`) : [''];
  const informers = new Map<KindName, Informer>();
  const objectRef = (kind: KindName, object: KubeObject) => ({
    group: apiGroup,
    version,
    namespace: object.metadata.namespace ?? '',
    plural: operatorKinds.find((k) => k.kind === kind)!.plural,
    name: object.metadata.name,
  });

  for (const kind of operatorKinds) {
    informers.set(
      kind.kind,
      informerPerNamespace(nsPaths, (nsPath) => ({
        client,
        log,
        path: `${group}${nsPath}/${kind.plural}`,
        resyncMs: options.resyncMs,
        watchTimeoutSeconds: options.watchTimeoutSeconds,
        onEvent(event, object, previous) {
          // Our own status writes and other metadata-only updates change nothing we store.
          if (event === 'modified' && previous && !relevantChange(previous, object)) return;
          options.enqueue(keyOf(kind.kind, object.metadata.namespace ?? '', object.metadata.name));
        },
      })),
    );
  }
  const secrets = informerPerNamespace(nsPaths, (nsPath) => ({
    client,
    log,
    path: `/api/v1${nsPath}/secrets`,
    labelSelector: `${providerSecretLabel}=true`,
    resyncMs: 0,
    watchTimeoutSeconds: options.watchTimeoutSeconds,
    onEvent(_event, secret) {
      const namespace = secret.metadata.namespace ?? '';
      for (const provider of informers.get('Provider')!.list()) {
        const ref = (provider.spec as { apiKeySecretRef?: { name?: string } } | undefined)?.apiKeySecretRef?.name;
        if (provider.metadata.namespace === namespace && ref === secret.metadata.name) {
          options.enqueue(keyOf('Provider', namespace, provider.metadata.name));
        }
      }
    },
  }));

  /** A write to an object that may be gone meanwhile: its deletion is the informer's news, not an error. */
  async function unlessGone(write: Promise<unknown>): Promise<void> {
    try {
      await write;
    } catch (error) {
      if (apiStatus(error) !== 404) throw error;
    }
  }

  return {
    start() {
      secrets.start();
      for (const informer of informers.values()) informer.start();
    },
    async synced() {
      await Promise.all([secrets.synced(), ...[...informers.values()].map((i) => i.synced())]);
    },
    async stop() {
      await Promise.all([secrets.stop(), ...[...informers.values()].map((i) => i.stop())]);
    },
    get: (kind, namespace, name) => informers.get(kind)?.get(namespace, name),
    list: (kind) => informers.get(kind)?.list() ?? [],

    async getSecret(namespace, name) {
      const cached = secrets.get(namespace, name);
      if (cached) return { marked: true, data: (cached.data as Record<string, string> | undefined) ?? {} };
      // Not in the marked set: tell "missing" from "not marked" (the informer may also simply lag
      // behind a label just added). Its data is dropped unread either way.
      let secret: V1Secret;
      try {
        secret = await client.core.readNamespacedSecret({ namespace, name });
      } catch (error) {
        if (apiStatus(error) === 404) return null;
        throw error;
      }
      if (secret.metadata?.labels?.[providerSecretLabel] !== 'true') return { marked: false };
      return { marked: true, data: secret.data ?? {} };
    },

    changeActor(object, secretName) {
      const holder = secretName ? secrets.get(object.metadata.namespace ?? '', secretName) : object;
      const stamped = holder?.metadata.annotations?.[changedByAnnotation];
      if (!stamped) return unknownActor;
      const origin = readChangeOrigin(holder?.metadata.annotations);
      return { actor: stamped, actorSource: 'kubernetes', ...(origin ? { origin } : {}) };
    },

    async deleteActor(kind, namespace, name, uid) {
      const intent = z.object({ actor: z.string(), origin: z.unknown() });
      const found =
        uid !== undefined
          ? await options.db.maybeOne(sql.type(intent)`select actor, origin from operator_delete_intents where uid = ${uid}`)
          : await options.db.maybeOne(sql.type(intent)`
              select actor, origin from operator_delete_intents where kind = ${kind} and namespace = ${namespace} and name = ${name}
              order by at desc limit 1`);
      if (!found) return unknownActor;
      const origin = changeOriginSchema.safeParse(found.origin);
      return { actor: found.actor, actorSource: 'kubernetes', ...(origin.success ? { origin: origin.data } : {}) };
    },

    async ensureFinalizer(kind, object) {
      const finalizers = object.metadata.finalizers ?? [];
      if (finalizers.includes(finalizerName)) return;
      // resourceVersion in a merge patch makes it conditional: another writer's finalizers are never lost.
      await client.customObjects.patchNamespacedCustomObject(
        {
          ...objectRef(kind, object),
          body: { metadata: { finalizers: [...finalizers, finalizerName], resourceVersion: object.metadata.resourceVersion } },
        },
        mergePatch,
      );
    },

    async removeFinalizer(kind, object) {
      const finalizers = object.metadata.finalizers ?? [];
      if (!finalizers.includes(finalizerName)) return;
      await unlessGone(
        client.customObjects.patchNamespacedCustomObject(
          {
            ...objectRef(kind, object),
            body: {
              metadata: { finalizers: finalizers.filter((f) => f !== finalizerName), resourceVersion: object.metadata.resourceVersion },
            },
          },
          mergePatch,
        ),
      );
      await options.db.query(statement`delete from operator_delete_intents where uid = ${object.metadata.uid}`);
    },

    async writeStatus(kind, object, status) {
      const body = statusPatch(object, status);
      if (body === null) return;
      await unlessGone(
        client.customObjects.patchNamespacedCustomObjectStatus({ ...objectRef(kind, object), body: { status: body } }, mergePatch),
      );
    },

    async recordWarning(kind, object, reason, message) {
      const now = new Date();
      const namespace = object.metadata.namespace ?? 'default';
      await client.core
        .createNamespacedEvent({
          namespace,
          body: {
            metadata: { generateName: `${object.metadata.name}.`, namespace },
            involvedObject: {
              apiVersion,
              kind,
              name: object.metadata.name,
              namespace,
              uid: object.metadata.uid,
              resourceVersion: object.metadata.resourceVersion,
            },
            type: 'Warning',
            reason,
            message,
            source: { component: 'codevector-operator' },
            reportingComponent: 'codevector.dev/operator',
            reportingInstance: options.instance,
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
          },
        })
        .catch((error: unknown) => log.warn({ err: error }, 'event not recorded'));
    },
  };
}

/** One informer per namespace path behind the Informer interface (keys are namespace/name, so they never overlap). */
function informerPerNamespace(nsPaths: readonly string[], options: (nsPath: string) => Parameters<typeof createInformer>[0]): Informer {
  const all = nsPaths.map((nsPath) => createInformer(options(nsPath)));
  if (all.length === 1) return all[0]!;
  return {
    start: () => {
      for (const informer of all) informer.start();
    },
    synced: async () => {
      await Promise.all(all.map((informer) => informer.synced()));
    },
    stop: async () => {
      await Promise.all(all.map((informer) => informer.stop()));
    },
    get: (namespace, name) => {
      for (const informer of all) {
        const found = informer.get(namespace, name);
        if (found) return found;
      }
      return undefined;
    },
    list: () => all.flatMap((informer) => informer.list()),
  };
}

/** Spec (generation), deletion, finalizers or the actor stamp changed: worth a reconcile. */
function relevantChange(previous: KubeObject, next: KubeObject): boolean {
  const a = previous.metadata;
  const b = next.metadata;
  return (
    a.generation !== b.generation ||
    a.deletionTimestamp !== b.deletionTimestamp ||
    stableStringify(a.finalizers ?? []) !== stableStringify(b.finalizers ?? []) ||
    a.uid !== b.uid
  );
}

/**
 * The status the object should have, or null when it already has it (no write, no watch
 * event, no churn). lastTransitionTime moves only when Ready flips.
 */
export function statusPatch(object: KubeObject, status: ResourceStatus, now = new Date()): Record<string, unknown> | null {
  const generation = object.metadata.generation ?? 0;
  const previous = readyCondition(object);
  const conditionStatus = status.ready ? 'True' : 'False';
  const extra = status.extra ?? {};
  const current = object.status ?? {};
  const same =
    previous?.status === conditionStatus &&
    previous.reason === status.reason &&
    previous.message === status.message &&
    previous.observedGeneration === generation &&
    current['observedGeneration'] === generation &&
    // null removes a field (merge patch), so it equals a field that is absent.
    Object.entries(extra).every(([key, value]) => stableStringify(current[key] ?? null) === stableStringify(value ?? null));
  if (same) return null;
  return {
    ...extra,
    observedGeneration: generation,
    conditions: [
      {
        type: 'Ready',
        status: conditionStatus,
        reason: status.reason,
        message: status.message,
        observedGeneration: generation,
        lastTransitionTime:
          previous?.status === conditionStatus && previous.lastTransitionTime
            ? previous.lastTransitionTime
            : now.toISOString().replace(/\.\d+Z$/, 'Z'),
      },
    ],
  };
}
