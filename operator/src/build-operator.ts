import { type DatabasePool, sql } from '@codevector/core/create-pool';
import type { Logger } from '@codevector/core/logger';
import { createSecretBox } from '@codevector/core/secret-box';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { startAuditDelivery } from './audit-sink/audit-delivery.ts';
import type { OperatorConfig } from './config.ts';
import { createFileSource, type FileSource } from './file-source.ts';
import { keyOf, operatorKinds } from './kinds.ts';
import type { KubeClient } from './kube/kube-client.ts';
import { createKubeSource, type KubeSource } from './kube/kube-source.ts';
import { createLeaderElector, type LeaderElector } from './kube/leader-election.ts';
import { startLiveStatusWatch } from './live-status-watch.ts';
import { createOperatorMetrics } from './operator-metrics.ts';
import { createReconciler } from './reconciler.ts';
import type { ResourceSource } from './resource-source.ts';
import { readyCondition } from './status-condition.ts';
import type { StoreResult } from './store-resource.ts';
import { createWorkQueue, type WorkQueue } from './work-queue.ts';

export type OperatorSource = { type: 'kubernetes'; client: KubeClient } | { type: 'dir'; dir: string };

export type OperatorDeps = {
  config: OperatorConfig;
  db: DatabasePool;
  log: Logger;
  source: OperatorSource;
  onCommitted?(key: string, result: StoreResult): void;
  /** Where the operator's metrics go (main serves it on CODEVECTOR_METRICS_PORT); none in most tests. */
  metricsRegistry?: Registry;
};

export type Operator = {
  /** Starts campaigning (cluster) or reconciling (folder); resolves once started, not once leading. */
  start(): Promise<void>;
  /** Resolves when this process leads and its caches are synced and the first pass is queued. */
  leading(): Promise<void>;
  isLeader(): boolean;
  /** Resolves when nothing is queued or running. */
  idle(): Promise<void>;
  /** `release` hands the Lease over at once; without it the lease runs out (a crash). */
  stop(options?: { release?: boolean }): Promise<void>;
};

const tables = {
  provider: 'providers',
  model: 'models',
  budget: 'budgets',
  rate_limit: 'rate_limits',
  secret_rule: 'secret_rules',
  audit_sink: 'audit_sinks',
} as const;

/**
 * Wires source → work queue → reconciler, and (for a cluster) leader election: only the leader
 * runs informers and reconciles. A process that loses the lease stops reconciling at once.
 */
export function buildOperator(deps: OperatorDeps): Operator {
  const { config, db, log } = deps;
  if (!config.CODEVECTOR_ENCRYPTION_KEY) throw new Error('CODEVECTOR_ENCRYPTION_KEY is required to run the operator');
  const secretBox = createSecretBox(config.CODEVECTOR_ENCRYPTION_KEY);
  let controller: { stop(): Promise<void>; queue: WorkQueue; source: ResourceSource } | undefined;
  let elector: LeaderElector | undefined;
  let markLeading: () => void = () => {};
  let leadingPromise = new Promise<void>((resolve) => (markLeading = resolve));
  const metrics = deps.metricsRegistry
    ? createOperatorMetrics(deps.metricsRegistry, {
        queue: () => controller?.queue.stats() ?? { queued: 0, active: 0, scheduled: 0, retrying: 0 },
        leader: () => controller !== undefined && (elector ? elector.isLeader() : true),
        resources: () => {
          const source = controller?.source;
          if (!source) return [];
          const counts = new Map<string, { kind: string; ready: 'True' | 'False' | 'Unknown'; count: number }>();
          for (const kind of operatorKinds) {
            for (const object of source.list(kind.kind)) {
              const ready = (readyCondition(object)?.status ?? 'Unknown') as 'True' | 'False' | 'Unknown';
              const key = `${kind.kind}/${ready}`;
              const entry = counts.get(key) ?? { kind: kind.kind, ready, count: 0 };
              entry.count++;
              counts.set(key, entry);
            }
          }
          return [...counts.values()];
        },
      })
    : undefined;

  async function startController(): Promise<void> {
    let queueRef: WorkQueue | undefined;
    const enqueue = (key: string) => queueRef?.add(key);
    let source: (ResourceSource & { stop(): Promise<void> }) & ({ kind: 'kube'; kube: KubeSource } | { kind: 'file'; file: FileSource });
    if (deps.source.type === 'kubernetes') {
      const kube = createKubeSource({
        client: deps.source.client,
        db,
        log,
        namespaces: config.watchNamespaces,
        enqueue,
        resyncMs: config.CODEVECTOR_RESYNC_SECONDS * 1000,
        instance: config.POD_NAME,
      });
      source = Object.assign(kube, { kind: 'kube' as const, kube });
    } else {
      const file = createFileSource({ dir: deps.source.dir, log, enqueue });
      source = Object.assign(file, { kind: 'file' as const, file });
    }
    const reconciler = createReconciler({
      db,
      source,
      secretBox,
      log,
      enqueue,
      onCommitted: deps.onCommitted,
      budgetStatusMs: config.CODEVECTOR_BUDGET_STATUS_SECONDS * 1000,
      metrics,
      policy: {
        installationNamespace: config.CODEVECTOR_INSTALLATION_NAMESPACE,
        providerBaseURLs: config.CODEVECTOR_PROVIDER_BASE_URLS,
      },
    });
    const queue = createWorkQueue({
      concurrency: config.CODEVECTOR_CONCURRENCY,
      handler: metrics
        ? async (key) => {
            const started = performance.now();
            const kind = key.slice(0, key.indexOf('/'));
            try {
              const result = await reconciler.reconcile(key);
              metrics.reconciled(kind, 'ok', (performance.now() - started) / 1000);
              return result;
            } catch (error) {
              metrics.reconciled(kind, 'error', (performance.now() - started) / 1000);
              throw error;
            }
          }
        : (key) => reconciler.reconcile(key),
      backoff: { baseMs: 250, maxMs: 60_000 },
      onError: (key, error, retryInMs) => log.warn({ key, err: error, retryInMs }, 'reconcile failed'),
    });
    queueRef = queue;
    let delivery: { stop(): Promise<void> } | undefined;
    let liveStatus: { stop(): Promise<void> } | undefined;
    const mine = {
      queue,
      source,
      startDelivery: () => {
        delivery = startAuditDelivery({ db, source, log, intervalMs: config.CODEVECTOR_AUDIT_DELIVERY_MS });
        liveStatus = startLiveStatusWatch({
          db,
          source,
          enqueue,
          log,
          intervalMs: config.CODEVECTOR_BUDGET_STATUS_SECONDS * 1000,
          onRead: metrics?.liveStatusRead,
        });
      },
      stop: async () => {
        await liveStatus?.stop();
        await delivery?.stop();
        await source.stop();
        await queue.shutdown();
      },
    };
    controller = mine;
    if (source.kind === 'kube') {
      source.kube.start();
      await source.kube.synced();
    } else {
      await source.file.start();
    }
    // Leadership may have been lost while the caches synced; then this controller is already stopped.
    if (controller !== mine) return;
    // Rows whose object disappeared while nobody watched (deleted without our finalizer, or
    // removed from the folder while the operator was down) are deleted and audited.
    for (const kind of operatorKinds) {
      const rows = await db.any(sql.type(z.object({ namespace: z.string(), name: z.string() }))`
        select namespace, name from ${sql.identifier([tables[kind.target]])}
        ${config.watchNamespaces && deps.source.type === 'kubernetes' ? sql.fragment`where namespace = any(${sql.array(config.watchNamespaces, 'text')})` : sql.fragment``}`);
      for (const row of rows) if (!source.get(kind.kind, row.namespace, row.name)) queue.add(keyOf(kind.kind, row.namespace, row.name));
      for (const object of source.list(kind.kind)) queue.add(keyOf(kind.kind, object.metadata.namespace ?? '', object.metadata.name));
    }
    // Audit streaming is the leader's, like reconciling: one deliverer, so sinks see one ordered stream.
    mine.startDelivery();
    markLeading();
  }

  async function stopController(): Promise<void> {
    const current = controller;
    controller = undefined;
    await current?.stop();
    leadingPromise = new Promise<void>((resolve) => (markLeading = resolve));
  }

  return {
    async start() {
      if (deps.source.type === 'kubernetes' && config.CODEVECTOR_LEADER_ELECTION) {
        elector = createLeaderElector({
          client: deps.source.client,
          log,
          namespace: config.CODEVECTOR_OPERATOR_NAMESPACE,
          name: config.CODEVECTOR_LEASE_NAME,
          identity: config.POD_NAME,
          leaseDurationMs: config.CODEVECTOR_LEASE_DURATION_SECONDS * 1000,
          renewDeadlineMs: config.CODEVECTOR_LEASE_RENEW_DEADLINE_SECONDS * 1000,
          retryPeriodMs: config.CODEVECTOR_LEASE_RETRY_SECONDS * 1000,
          onStartedLeading: () => {
            // The database or apiserver may be briefly unavailable: retry while we still lead.
            const attempt = (wait: number): void => {
              startController().catch(async (error: unknown) => {
                log.error({ err: error, retryInMs: wait }, 'controller failed to start');
                await stopController();
                setTimeout(() => {
                  if (elector?.isLeader()) attempt(Math.min(wait * 2, 30_000));
                }, wait).unref();
              });
            };
            attempt(1_000);
          },
          onStoppedLeading: () => {
            void stopController();
          },
        });
        elector.start();
      } else {
        await startController();
      }
    },
    leading: () => leadingPromise,
    isLeader: () => (elector ? elector.isLeader() : controller !== undefined),
    idle: async () => {
      await controller?.queue.idle();
    },
    async stop(options) {
      await elector?.stop(options);
      await stopController();
    },
  };
}
