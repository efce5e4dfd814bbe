import type { Logger } from '@codevector/core/logger';
import { type V1Lease, type V1LeaseSpec, V1MicroTime } from '@kubernetes/client-node';
import { apiStatus, type KubeClient } from './kube-client.ts';

export type LeaderElectionOptions = {
  client: KubeClient;
  log: Logger;
  namespace: string;
  name: string;
  identity: string;
  /** How long a lease lasts without renewal before another candidate may take it. */
  leaseDurationMs: number;
  /** A leader that could not renew for this long steps down (must be < leaseDurationMs). */
  renewDeadlineMs: number;
  /** How often to try to acquire or renew. */
  retryPeriodMs: number;
  onStartedLeading(): void;
  onStoppedLeading(): void;
  now?: () => number;
};

export type LeaderElector = {
  start(): void;
  isLeader(): boolean;
  /** Stops campaigning; `release` hands the lease over at once (graceful shutdown). */
  stop(options?: { release?: boolean }): Promise<void>;
};

// Serialises with microseconds, the precision the apiserver's MicroTime expects.
const microTime = (ms: number) => new V1MicroTime(ms);

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
 * optimistic updates with resourceVersion, and expiry judged by when THIS process last saw the
 * lease record change (not by the holder's renewTime), so clock skew between nodes does not
 * matter. A leader that cannot renew within renewDeadline stops leading before another process
 * can take over.
 */
export function createLeaderElector(options: LeaderElectionOptions): LeaderElector {
  const { client, log } = options;
  const now = options.now ?? Date.now;
  const leaseRef = { namespace: options.namespace, name: options.name };
  let leader = false;
  let lastRenew = 0;
  let observed = { record: '', at: 0 };
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  async function tryAcquireOrRenew(): Promise<boolean> {
    const t = now();
    const desiredSpec = (previous?: V1LeaseSpec): V1LeaseSpec => ({
      holderIdentity: options.identity,
      leaseDurationSeconds: Math.ceil(options.leaseDurationMs / 1000),
      acquireTime: previous?.holderIdentity === options.identity && previous.acquireTime ? previous.acquireTime : microTime(t),
      renewTime: microTime(t),
      leaseTransitions: (previous?.leaseTransitions ?? 0) + (previous?.holderIdentity === options.identity ? 0 : 1),
    });
    let lease: V1Lease | null;
    try {
      lease = await client.coordination.readNamespacedLease(leaseRef);
    } catch (error) {
      if (apiStatus(error) === 404) lease = null;
      else {
        log.warn({ err: error }, 'lease read failed');
        return false;
      }
    }
    if (lease === null) {
      try {
        await client.coordination.createNamespacedLease({
          namespace: options.namespace,
          body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: leaseRef, spec: desiredSpec() },
        });
        return true;
      } catch (error) {
        if (apiStatus(error) !== 409) log.warn({ err: error }, 'lease create failed');
        return false;
      }
    }
    const spec = lease.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.leaseDurationSeconds]);
    if (record !== observed.record) observed = { record, at: t };
    const holder = spec.holderIdentity ?? '';
    const durationMs = (spec.leaseDurationSeconds ?? 0) * 1000;
    if (holder !== '' && holder !== options.identity && t < observed.at + durationMs) return false;
    try {
      // The read's resourceVersion makes the replace conditional: of two candidates, one wins.
      await client.coordination.replaceNamespacedLease({ ...leaseRef, body: { ...lease, spec: desiredSpec(spec) } });
      return true;
    } catch (error) {
      if (apiStatus(error) !== 409) log.warn({ err: error }, 'lease update failed');
      return false;
    }
  }

  async function tick(): Promise<void> {
    const acquired = await tryAcquireOrRenew();
    if (stopped) return;
    const t = now();
    if (acquired) {
      lastRenew = t;
      if (!leader) {
        leader = true;
        log.info({ lease: `${options.namespace}/${options.name}`, identity: options.identity }, 'became leader');
        options.onStartedLeading();
      }
    } else if (leader && t - lastRenew > options.renewDeadlineMs) {
      leader = false;
      log.warn({ identity: options.identity }, 'lost leadership');
      options.onStoppedLeading();
    }
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick()
        .catch((error: unknown) => log.error({ err: error }, 'leader election tick failed'))
        .finally(schedule);
    }, options.retryPeriodMs);
  }

  return {
    start() {
      running = tick()
        .catch((error: unknown) => log.error({ err: error }, 'leader election tick failed'))
        .finally(schedule);
    },
    isLeader: () => leader,
    async stop({ release = false } = {}) {
      stopped = true;
      clearTimeout(timer);
      await running;
      if (leader && release) {
        try {
          const lease = await client.coordination.readNamespacedLease(leaseRef);
          if (lease.spec?.holderIdentity === options.identity) {
            await client.coordination.replaceNamespacedLease({
              ...leaseRef,
              body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(now()) } },
            });
          }
        } catch (error) {
          log.warn({ err: error }, 'lease release failed');
        }
      }
      if (leader) {
        leader = false;
        options.onStoppedLeading();
      }
    },
  };
}
