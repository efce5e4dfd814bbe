import type { SnapshotRateLimit } from '@codevector/core/config-snapshot';
import { type DatabasePool, sql } from '@codevector/core/create-pool';
import type { Logger } from '@codevector/core/logger';
import { z } from 'zod';
import { startPeriodicPush } from './periodic-push.ts';

/**
 * Requests and tokens per minute, shared by all replicas through PostgreSQL (DESIGN §5.5,
 * ADR 0111). Fixed one-minute windows per (RateLimit, subject). For requests, a replica leases a
 * slice of the window's allowance with one atomic upsert (never more than is left), admits
 * locally while the slice lasts and gives back unused slots when the key goes idle: requests can
 * never exceed the limit; the cost is that slots held idle by one replica are briefly unavailable
 * to the others. Tokens are known only after a response, so they are enforced on what was
 * consumed (as the providers do): replicas push their counts every `syncMs`, and a request is
 * refused once the window's tokens reached the limit; the error is what other replicas consumed
 * in the last `syncMs` plus the requests already in flight.
 */
export type RateLimitRefusal = {
  limit: SnapshotRateLimit;
  subject: string;
  dimension: 'requests' | 'tokens';
  max: number;
  remaining: number;
  retryAfterSeconds: number;
  resetAt: Date;
};

export type RateLimitTicket = { states: WindowState[] };

export type RateLimiter = {
  /** Admits the request or names the first limit it exceeds. Synchronous while leases last. */
  admit(
    limits: readonly { limit: SnapshotRateLimit; subject: string }[],
  ): RateLimitTicket | RateLimitRefusal | Promise<RateLimitTicket | RateLimitRefusal>;
  /** Counts the tokens a request consumed against the limits that admitted it. */
  addTokens(ticket: RateLimitTicket, tokens: number): void;
  /** Returns unused leases and pushes pending token counts. */
  close(): Promise<void>;
};

type WindowState = {
  limitUid: string;
  subject: string;
  windowStart: number;
  granted: number;
  used: number;
  globalTokens: number;
  pendingTokens: number;
  acquiring: Promise<void> | null;
  retryLeaseAt: number;
  lastUsedAt: number;
};

const windowMs = 60_000;
const leaseRow = z.object({ last_grant: z.number(), requests: z.number(), tokens: z.number() });

export function createRateLimiter(options: {
  pool: DatabasePool;
  logger: Logger;
  clock?: () => number;
  syncMs?: number;
  idleReturnMs?: number;
}): RateLimiter {
  const { pool, logger } = options;
  const clock = options.clock ?? Date.now;
  const syncMs = options.syncMs ?? 250;
  const idleReturnMs = options.idleReturnMs ?? 1000;
  const states = new Map<string, WindowState>();

  function stateFor(limit: SnapshotRateLimit, subject: string, now: number): WindowState {
    const key = `${limit.uid}\u0000${subject}`;
    const windowStart = now - (now % windowMs);
    let state = states.get(key);
    if (!state || state.windowStart !== windowStart) {
      // A new window: slots leased in the old one expire with it; pending tokens are pushed by sync.
      if (state && state.pendingTokens > 0) pushTokens(state.limitUid, state.subject, state.windowStart, state.pendingTokens);
      state = {
        limitUid: limit.uid,
        subject,
        windowStart,
        granted: 0,
        used: 0,
        globalTokens: 0,
        pendingTokens: 0,
        acquiring: null,
        retryLeaseAt: 0,
        lastUsedAt: now,
      };
      states.set(key, state);
    }
    return state;
  }

  function sliceFor(max: number): number {
    // ~50 leases per window at most per replica; small limits lease one slot at a time.
    return Math.max(1, Math.floor(max / 50));
  }

  async function lease(state: WindowState, max: number, want: number): Promise<void> {
    const pending = state.pendingTokens;
    state.pendingTokens = 0;
    try {
      const row = await pool.one(sql.type(leaseRow)`
        insert into gateway_rate_windows (limit_uid, subject, window_start, requests, tokens, last_grant)
        values (${state.limitUid}, ${state.subject}, ${new Date(state.windowStart).toISOString()},
                least(${want}::bigint, ${max}::bigint), ${pending}, least(${want}::bigint, ${max}::bigint))
        on conflict (limit_uid, subject, window_start) do update set
          requests = gateway_rate_windows.requests + least(${want}::bigint, greatest(0, ${max}::bigint - gateway_rate_windows.requests)),
          last_grant = least(${want}::bigint, greatest(0, ${max}::bigint - gateway_rate_windows.requests)),
          tokens = gateway_rate_windows.tokens + ${pending}
        returning last_grant, requests, tokens`);
      state.granted += row.last_grant;
      state.globalTokens = row.tokens;
      if (row.last_grant === 0) state.retryLeaseAt = clock() + 200;
    } catch (error) {
      state.pendingTokens += pending;
      state.retryLeaseAt = clock() + 200;
      logger.error({ err: error }, 'rate limit lease failed');
      throw error;
    }
  }

  function pushTokens(limitUid: string, subject: string, windowStart: number, tokens: number): Promise<number | null> {
    return pool
      .one(sql.type(z.object({ tokens: z.number() }))`
        insert into gateway_rate_windows (limit_uid, subject, window_start, tokens)
        values (${limitUid}, ${subject}, ${new Date(windowStart).toISOString()}, ${tokens})
        on conflict (limit_uid, subject, window_start) do update set tokens = gateway_rate_windows.tokens + ${tokens}
        returning tokens`)
      .then(
        (row) => row.tokens,
        (error: unknown) => {
          logger.error({ err: error }, 'rate limit token sync failed');
          return null;
        },
      );
  }

  function returnUnused(state: WindowState): Promise<void> {
    const unused = state.granted - state.used;
    if (unused <= 0) return Promise.resolve();
    state.granted = state.used;
    return pool
      .query(sql.type(z.object({}))`
        update gateway_rate_windows set requests = greatest(0, requests - ${unused})
        where limit_uid = ${state.limitUid} and subject = ${state.subject} and window_start = ${new Date(state.windowStart).toISOString()}`)
      .then(
        () => {},
        (error: unknown) => logger.error({ err: error }, 'rate limit lease return failed'),
      );
  }

  async function sync(final: boolean): Promise<void> {
    const now = clock();
    const work: Promise<unknown>[] = [];
    for (const [key, state] of states) {
      const current = now - (now % windowMs) === state.windowStart;
      if (state.pendingTokens > 0) {
        const tokens = state.pendingTokens;
        state.pendingTokens = 0;
        work.push(
          pushTokens(state.limitUid, state.subject, state.windowStart, tokens).then((total) => {
            if (total !== null) state.globalTokens = Math.max(state.globalTokens, total);
            else state.pendingTokens += tokens;
          }),
        );
      } else if (current && state.globalTokens > 0 && now - state.lastUsedAt < idleReturnMs * 10) {
        work.push(
          pushTokens(state.limitUid, state.subject, state.windowStart, 0).then((total) => {
            if (total !== null) state.globalTokens = total;
          }),
        );
      }
      if (current && !state.acquiring && (final || now - state.lastUsedAt > idleReturnMs)) work.push(returnUnused(state));
      if (!current && state.pendingTokens === 0) states.delete(key);
    }
    await Promise.all(work);
  }

  const periodicSync = startPeriodicPush(() => sync(false), syncMs);

  function refusal(
    limit: SnapshotRateLimit,
    state: WindowState,
    dimension: 'requests' | 'tokens',
    max: number,
    now: number,
  ): RateLimitRefusal {
    const resetAt = state.windowStart + windowMs;
    return {
      limit,
      subject: state.subject,
      dimension,
      max,
      remaining: 0,
      retryAfterSeconds: Math.max(1, Math.ceil((resetAt - now) / 1000)),
      resetAt: new Date(resetAt),
    };
  }

  function tryAdmit(
    items: readonly { limit: SnapshotRateLimit; subject: string }[],
    now: number,
  ): RateLimitTicket | RateLimitRefusal | { wait: Promise<void> } {
    const picked: WindowState[] = [];
    for (const { limit, subject } of items) {
      const state = stateFor(limit, subject, now);
      picked.push(state);
      const tpm = limit.tokensPerMinute;
      if (tpm !== undefined && state.globalTokens + state.pendingTokens >= tpm) return refusal(limit, state, 'tokens', tpm, now);
      const rpm = limit.requestsPerMinute;
      if (rpm !== undefined && state.used >= state.granted) {
        if (state.acquiring) return { wait: state.acquiring };
        if (now < state.retryLeaseAt) return refusal(limit, state, 'requests', rpm, now);
        const acquiring = lease(state, rpm, sliceFor(rpm)).finally(() => {
          state.acquiring = null;
        });
        state.acquiring = acquiring;
        return { wait: acquiring };
      }
    }
    // Every limit has room: take one slot from each.
    for (let i = 0; i < items.length; i++) {
      const state = picked[i]!;
      state.lastUsedAt = now;
      if (items[i]!.limit.requestsPerMinute !== undefined) state.used++;
    }
    return { states: picked };
  }

  return {
    admit(items) {
      if (items.length === 0) return { states: [] };
      const first = tryAdmit(items, clock());
      if (!('wait' in first)) return first;
      return (async () => {
        let outcome: ReturnType<typeof tryAdmit> = first;
        for (let attempt = 0; attempt < 5 && 'wait' in outcome; attempt++) {
          // A failed lease refuses through retryLeaseAt on the next try.
          await outcome.wait.catch(() => {});
          outcome = tryAdmit(items, clock());
        }
        if ('wait' in outcome) {
          const { limit } = items[0]!;
          const now = clock();
          return refusal(limit, stateFor(limit, items[0]!.subject, now), 'requests', limit.requestsPerMinute ?? 0, now);
        }
        return outcome;
      })();
    },
    addTokens(ticket, tokens) {
      if (tokens <= 0) return;
      for (const state of ticket.states) state.pendingTokens += tokens;
    },
    async close() {
      await periodicSync.stop();
      await sync(true);
    },
  };
}
