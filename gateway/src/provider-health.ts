import { randomUUID } from 'node:crypto';
import { type DatabasePool, sql, statement } from '@codevector/core/create-pool';
import type { Logger } from '@codevector/core/logger';
import { startPeriodicPush } from './periodic-push.ts';

/**
 * What Provider status shows (issue #13 §5): each replica's upstream answers of the last minute
 * and its latest failure, pushed into gateway_provider_health (migration 0600) for the operator
 * to add up. The request path only bumps numbers in memory; one statement per push writes every
 * Provider this replica used. Latency is the time to the upstream's response headers, the same
 * as codevector_gateway_upstream_latency_seconds.
 */
export type ProviderHealth = {
  /** An upstream attempt ended: `status` 0 = never answered; `outcome` a fixed word (ok, upstream_error, upstream_timeout, fallback…). */
  outcome(providerRef: string, status: number, outcome: string): void;
  /** Time from sending an attempt to the upstream's response headers. */
  latency(providerRef: string, seconds: number): void;
  close(): Promise<void>;
};

/** Histogram bounds in milliseconds; the last count is for answers slower than every bound. */
export const providerLatencyBoundsMs = [25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000];

const slotMs = 5_000;
const slots = 12;

type Slot = { start: number; counts: number[]; requests: number; errors: number };
type State = {
  ring: Slot[];
  lastError: { at: Date; status: number; outcome: string } | null;
  dirty: boolean;
  pushedAt: number;
};

/** A replica with answers in its last minute pushes at least this often, so its row stays live (the operator counts rows of the last 30 s). */
const heartbeatMs = 10_000;
/** Rows of replicas that stopped pushing this long ago are deleted (each process is a new replica). */
const retainMs = 24 * 3_600_000;

/**
 * Whether an attempt counts as the upstream failing: unreachable, timed out, overloaded (429,
 * 5xx), or refusing the Provider's own credential (401, 403). A 4xx about the client's request
 * (400, 404, 413…) is the client's, not the Provider's.
 */
export function isUpstreamFailure(status: number, outcome: string): boolean {
  if (outcome === 'upstream_timeout' || outcome === 'fallback' || status === 0) return true;
  return status >= 500 || status === 429 || status === 401 || status === 403;
}

/** One replica's provider health: in-memory rings per Provider, pushed every `pushMs` (1 s). */
export function createProviderHealth(options: {
  pool: DatabasePool;
  logger: Logger;
  replicaId?: string;
  pushMs?: number;
  now?: () => number;
}): ProviderHealth {
  const now = options.now ?? Date.now;
  const replicaId = options.replicaId ?? randomUUID();
  const states = new Map<string, State>();
  // Hourly, starting with the first push.
  let prunedAt = -Infinity;

  const slotFor = (state: State, at: number): Slot => {
    const start = at - (at % slotMs);
    const index = Math.floor(start / slotMs) % slots;
    let slot = state.ring[index];
    if (!slot || slot.start !== start) {
      slot = { start, counts: providerLatencyBoundsMs.map(() => 0).concat(0), requests: 0, errors: 0 };
      state.ring[index] = slot;
    }
    return slot;
  };

  const stateFor = (providerRef: string): State | undefined => {
    let state = states.get(providerRef);
    if (!state) {
      // Provider refs come from the config snapshot (namespace/name), so the map is bounded by it.
      if (states.size >= 10_000) return undefined;
      state = { ring: [], lastError: null, dirty: true, pushedAt: 0 };
      states.set(providerRef, state);
    }
    return state;
  };

  const push = async () => {
    const at = now();
    const rows: { ref: string; counts: number[]; requests: number; errors: number; lastError: State['lastError'] }[] = [];
    for (const [ref, state] of states) {
      const live = state.ring.filter((s) => s && at - s.start < slots * slotMs);
      // A replica whose minute emptied pushes the zeros once, then stays quiet.
      const expired = live.length !== state.ring.filter(Boolean).length;
      if (!state.dirty && !expired && (live.length === 0 || at - state.pushedAt < heartbeatMs)) continue;
      state.pushedAt = at;
      state.ring = state.ring.map((s) => (s && at - s.start < slots * slotMs ? s : undefined)) as Slot[];
      const counts = providerLatencyBoundsMs.map(() => 0).concat(0);
      let requests = 0;
      let errors = 0;
      for (const slot of live) {
        for (const [i, n] of slot.counts.entries()) counts[i]! += n;
        requests += slot.requests;
        errors += slot.errors;
      }
      state.dirty = false;
      rows.push({ ref, counts, requests, errors, lastError: state.lastError });
    }
    if (at - prunedAt >= 3_600_000) {
      prunedAt = at;
      await options.pool
        .query(statement`
          delete from gateway_provider_health where updated_at < ${new Date(at - retainMs).toISOString()}::timestamptz`)
        .catch((error: unknown) => options.logger.warn({ err: error }, 'provider health prune failed'));
    }
    if (rows.length === 0) return;
    try {
      await options.pool.query(statement`
        insert into gateway_provider_health as h
          (provider_ref, replica_id, updated_at, latency_bounds_ms, latency_counts, requests, errors, last_error_at, last_error_status, last_error_outcome)
        select r.ref, ${replicaId}, now(), ${sql.array(providerLatencyBoundsMs, 'int4')},
               array(select jsonb_array_elements_text(r.counts)::bigint), r.requests, r.errors, r.error_at, r.error_status, r.error_outcome
        from jsonb_to_recordset(${sql.jsonb(
          rows.map((r) => ({
            ref: r.ref,
            counts: r.counts,
            requests: r.requests,
            errors: r.errors,
            error_at: r.lastError?.at.toISOString() ?? null,
            error_status: r.lastError?.status ?? null,
            error_outcome: r.lastError?.outcome ?? null,
          })),
        )}) as r(ref text, counts jsonb, requests bigint, errors bigint, error_at timestamptz, error_status int, error_outcome text)
        on conflict (provider_ref, replica_id) do update set
          updated_at = excluded.updated_at,
          latency_bounds_ms = excluded.latency_bounds_ms,
          latency_counts = excluded.latency_counts,
          requests = excluded.requests,
          errors = excluded.errors,
          last_error_at = coalesce(excluded.last_error_at, h.last_error_at),
          last_error_status = case when excluded.last_error_at is null then h.last_error_status else excluded.last_error_status end,
          last_error_outcome = case when excluded.last_error_at is null then h.last_error_outcome else excluded.last_error_outcome end`);
    } catch (error) {
      // Status only: the next push carries the same minute again.
      for (const row of rows) {
        const state = states.get(row.ref);
        if (state) state.dirty = true;
      }
      options.logger.warn({ err: error }, 'provider health push failed');
    }
  };
  const periodic = startPeriodicPush(push, options.pushMs ?? 1_000);

  return {
    outcome(providerRef, status, outcome) {
      const state = stateFor(providerRef);
      if (!state) return;
      const at = now();
      const slot = slotFor(state, at);
      slot.requests++;
      state.dirty = true;
      if (isUpstreamFailure(status, outcome)) {
        slot.errors++;
        state.lastError = { at: new Date(at), status, outcome };
      }
    },
    latency(providerRef, seconds) {
      const state = stateFor(providerRef);
      if (!state) return;
      const ms = seconds * 1000;
      let i = 0;
      while (i < providerLatencyBoundsMs.length && ms > providerLatencyBoundsMs[i]!) i++;
      slotFor(state, now()).counts[i]!++;
      state.dirty = true;
    },
    async close() {
      await periodic.stop();
      await push();
    },
  };
}
