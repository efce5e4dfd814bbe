import { randomUUID } from 'node:crypto';
import type { SnapshotRateLimit } from '@codevector/core/config-snapshot';
import { type DatabasePool, sql } from '@codevector/core/create-pool';
import type { Logger } from '@codevector/core/logger';
import { z } from 'zod';
import { admitWithLeases } from './lease-admission.ts';
import { startPeriodicPush } from './periodic-push.ts';

/**
 * Requests and tokens per minute, shared by all replicas through PostgreSQL (DESIGN §5.5,
 * ADR 0111), over a sliding minute: counts go into `bucketMs` buckets, and a limit is checked
 * against the current bucket and every bucket that can still hold a request of the last minute
 * (61 one-second buckets), so no rolling minute admits more than the limit — no 2× burst across a
 * boundary. The price is that the oldest bucket counts in full: a client sending steadily at
 * exactly the limit gets at most windowMs / (windowMs + bucketMs) of it (98.4 %).
 *
 * Requests: a replica leases a slice of slots with one call to gateway_rate_sync (migration
 * 0202), never more than the window has left, and admits locally while the slice lasts, for at
 * most `leaseMs`. While out, the slice is counted in the bucket of its deadline (no slot of it
 * can be used later); the replica remembers in which bucket it used each slot and reports that
 * when the lease ends (or with a token push), so used slots end up counted where they were used
 * and the rest goes back. A lease row unsettled past its deadline plus `leaseGraceMs` belongs to
 * a replica that died: the next call on that key by any replica takes its slots back. What a
 * replica admitted but had not reported when it died is taken back with them (at most its
 * slice). Tokens are known only after a response, so they are enforced on consumption (as the
 * providers do): replicas push their counts every `syncMs`, and a request is refused once the
 * window's tokens reached the limit.
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

export type RateLimitTicket = { states: KeyState[] };

export type RateLimiter = {
  /** Admits the request or names the first limit it exceeds. Synchronous while leases last. */
  admit(
    limits: readonly { limit: SnapshotRateLimit; subject: string }[],
  ): RateLimitTicket | RateLimitRefusal | Promise<RateLimitTicket | RateLimitRefusal>;
  /** Counts the tokens a request consumed against the limits that admitted it. */
  addTokens(ticket: RateLimitTicket, tokens: number): void;
  /** Returns unused leases and pushes pending token counts. */
  close(): Promise<void>;
  /** What this replica holds, for /metrics (read at scrape time, never on the request path). */
  stats(): RateLimiterStats;
};

export type RateLimiterStats = {
  /** (RateLimit, subject) keys this replica tracks. */
  keys: number;
  /** Keys holding a request lease, and its slots not yet admitted. */
  leases: number;
  freeSlots: number;
  /** Exchanges with the database (lease, report, token push) and those that failed. */
  syncs: number;
  syncFailures: number;
};

/** This replica's view of one (RateLimit, subject). */
type KeyState = {
  key: string;
  limit: SnapshotRateLimit;
  subject: string;
  /** Bucket the lease is counted in (that of its deadline); -1: no lease. */
  leaseBucket: number;
  /** Local deadline of the lease: no slot of it is admitted from then on. */
  leaseUntil: number;
  /** Slots of the lease not yet admitted. */
  free: number;
  /** Slots admitted and not yet reported, by bucket of admission (parallel arrays, oldest first). */
  usedBuckets: number[];
  usedCounts: number[];
  pendingTokens: number;
  /** End the lease (its unused rest goes back) on the next exchange. */
  releasing: boolean;
  /** Window token total as of the last exchange. */
  windowTokens: number;
  /** When that total was read (0: never); an older one is read again before admitting. */
  tokensReadAt: number;
  /** When the window has room again, as of the last exchange (0: it had room). */
  requestsFreeAt: number;
  tokensFreeAt: number;
  /** The exchange in flight for this key; at most one at a time. */
  acquiring: Promise<void> | null;
  /** No new lease or refresh before this time (after a refusal or a failed call). */
  retryAt: number;
  lastUsedAt: number;
};

const windowMs = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();
const syncRow = z.object({
  granted: z.number(),
  lease: z.number(),
  requests: z.number(),
  tokens: z.number(),
  requests_free_at: z.date().nullable(),
  tokens_free_at: z.date().nullable(),
});

/**
 * Creates one replica's rate limiter; every replica must use the same `bucketMs`.
 * @throws Error when `bucketMs` does not divide a minute.
 */
export function createRateLimiter(options: {
  pool: DatabasePool;
  logger: Logger;
  clock?: () => number;
  syncMs?: number;
  idleReturnMs?: number;
  /** Bucket length; a limit counts 60 s / bucketMs + 1 buckets. */
  bucketMs?: number;
  /** Fraction of the per-minute limit leased at a time (at least one slot). */
  sliceFraction?: number;
  /** How long a lease may be admitted from. */
  leaseMs?: number;
  /** How long after its deadline an unsettled lease is taken as abandoned. */
  leaseGraceMs?: number;
  /** How long a refused key waits before asking the database again. */
  retryMs?: number;
  /** Identifies this replica's leases; a new one per process. */
  replicaId?: string;
}): RateLimiter {
  const { pool, logger } = options;
  const clock = options.clock ?? Date.now;
  const syncMs = options.syncMs ?? 250;
  const idleReturnMs = options.idleReturnMs ?? 1000;
  const bucketMs = options.bucketMs ?? 1000;
  const sliceFraction = options.sliceFraction ?? 1 / 50;
  const leaseMs = options.leaseMs ?? 5000;
  const leaseGraceMs = options.leaseGraceMs ?? 2000;
  const retryMs = options.retryMs ?? 200;
  const tokensStaleMs = 4 * syncMs;
  const replicaId = options.replicaId ?? randomUUID();
  if (windowMs % bucketMs !== 0) throw new Error(`bucketMs must divide ${windowMs}`);
  const states = new Map<string, KeyState>();
  let syncs = 0;
  let syncFailures = 0;

  function stateFor(limit: SnapshotRateLimit, subject: string, now: number): KeyState {
    const key = `${limit.uid}\u0000${subject}`;
    let state = states.get(key);
    if (!state) {
      state = {
        key,
        limit,
        subject,
        leaseBucket: -1,
        leaseUntil: 0,
        free: 0,
        usedBuckets: [],
        usedCounts: [],
        pendingTokens: 0,
        releasing: false,
        windowTokens: 0,
        tokensReadAt: 0,
        requestsFreeAt: 0,
        tokensFreeAt: 0,
        acquiring: null,
        retryAt: 0,
        lastUsedAt: now,
      };
      states.set(key, state);
    } else {
      state.limit = limit; // a config change keeps the counters
    }
    return state;
  }

  /**
   * One round trip: reports used slots and tokens, ends the lease when it is over, idle or to be
   * replaced, takes back abandoned leases, and leases up to `want` slots (gateway_rate_sync).
   */
  async function exchange(state: KeyState, want: number): Promise<void> {
    syncs++;
    const sentAt = clock();
    const bucket = sentAt - (sentAt % bucketMs);
    const leaseBucket = state.leaseBucket;
    const usedBuckets = state.usedBuckets;
    const usedCounts = state.usedCounts;
    const tokens = state.pendingTokens;
    const release = state.releasing || want > 0 || sentAt >= state.leaseUntil;
    state.usedBuckets = [];
    state.usedCounts = [];
    state.pendingTokens = 0;
    if (release) state.free = 0; // nothing more is admitted from this lease
    const deadline = sentAt + leaseMs;
    const grantBucket = deadline - (deadline % bucketMs);
    const { requestsPerMinute: rpm = null, tokensPerMinute: tpm = null } = state.limit;
    try {
      const row = await pool.one(sql.type(syncRow)`
        select granted, lease, requests, tokens, requests_free_at, tokens_free_at from gateway_rate_sync(
          ${state.limit.uid}, ${state.subject}, ${replicaId},
          ${iso(bucket)}::timestamptz, ${iso(bucket - windowMs)}::timestamptz, ${bucketMs},
          ${leaseBucket === -1 ? null : iso(leaseBucket)}::timestamptz,
          ${sql.array(usedBuckets.map(iso), 'timestamptz')}, ${sql.array(usedCounts, 'int8')}, ${release},
          ${tokens}, ${rpm}::bigint, ${tpm}::bigint,
          ${rpm === null ? 0 : want}, ${iso(grantBucket)}::timestamptz, ${leaseMs}, ${leaseGraceMs})`);
      if (release) {
        state.releasing = false;
        state.leaseBucket = -1;
        state.leaseUntil = 0;
      }
      if (row.granted > 0) {
        state.leaseBucket = grantBucket;
        state.leaseUntil = deadline;
        state.free = row.lease;
      } else if (!release) {
        // Slots admitted while the statement ran came from this same lease.
        let since = 0;
        for (const n of state.usedCounts) since += n;
        state.free = Math.max(0, row.lease - since);
        if (row.lease === 0 && since === 0) {
          state.leaseBucket = -1;
          state.leaseUntil = 0;
        }
      }
      state.windowTokens = row.tokens;
      state.tokensReadAt = sentAt;
      state.requestsFreeAt = row.requests_free_at?.getTime() ?? 0;
      state.tokensFreeAt = row.tokens_free_at?.getTime() ?? 0;
      // Refused: ask again after retryMs, or as soon as the window has room if that is sooner,
      // so a client that waits exactly its retry-after is served.
      const retryAt = clock() + retryMs;
      if (want > 0 && row.granted === 0) state.retryAt = Math.min(retryAt, state.requestsFreeAt || retryAt);
      if (tpm !== null && row.tokens >= tpm) state.retryAt = Math.min(retryAt, state.tokensFreeAt || retryAt);
    } catch (error) {
      state.usedBuckets = usedBuckets.concat(state.usedBuckets);
      state.usedCounts = usedCounts.concat(state.usedCounts);
      state.pendingTokens += tokens;
      state.retryAt = clock() + retryMs;
      syncFailures++;
      logger.error({ err: error }, want > 0 ? 'rate limit lease failed' : 'rate limit sync failed');
    }
  }

  function run(state: KeyState, want: number): Promise<void> {
    const acquiring = exchange(state, want).finally(() => {
      state.acquiring = null;
    });
    state.acquiring = acquiring;
    return acquiring;
  }

  async function sync(final: boolean): Promise<void> {
    const now = clock();
    const work: Promise<void>[] = [];
    for (const [key, state] of states) {
      if (final && state.acquiring) await state.acquiring;
      if (state.acquiring) continue;
      const idleMs = now - state.lastUsedAt;
      if (state.free > 0 && (final || idleMs > idleReturnMs)) {
        state.free = 0;
        state.releasing = true;
      }
      const leaseOver = state.leaseBucket !== -1 && now >= state.leaseUntil;
      // The window slides: a key in recent use re-reads its token total as buckets leave it.
      const refresh = !final && state.limit.tokensPerMinute !== undefined && idleMs < idleReturnMs * 10;
      const unreported = state.usedCounts.length > 0;
      if (state.pendingTokens > 0 || state.releasing || leaseOver || refresh || (final && unreported)) {
        work.push(run(state, 0));
      } else if (state.leaseBucket === -1 && !unreported && idleMs > windowMs + bucketMs) {
        states.delete(key);
      }
    }
    await Promise.all(work);
  }

  const periodicSync = startPeriodicPush(() => sync(false), syncMs);

  function refusal(
    limit: SnapshotRateLimit,
    state: KeyState,
    dimension: 'requests' | 'tokens',
    max: number,
    now: number,
  ): RateLimitRefusal {
    const freeAt = dimension === 'requests' ? state.requestsFreeAt : state.tokensFreeAt;
    // Unknown (another replica holds the unused slots, or the answer is stale): try again soon.
    const resetAt = freeAt > now ? freeAt : now + 1000;
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
    allowExchange: boolean,
  ): RateLimitTicket | RateLimitRefusal | { wait: Promise<void> } {
    const bucket = now - (now % bucketMs);
    const picked: KeyState[] = [];
    for (const { limit, subject } of items) {
      const state = stateFor(limit, subject, now);
      picked.push(state);
      const tpm = limit.tokensPerMinute;
      // Other replicas' tokens are known only from the database: a total never read (a new key,
      // or one whose state was dropped when idle) or gone stale (the key idled past its periodic
      // re-read) is read before admitting; while a key is in use the re-read keeps it fresh.
      if (tpm !== undefined && now - state.tokensReadAt > tokensStaleMs) {
        if (allowExchange && now >= state.retryAt) return { wait: state.acquiring ?? run(state, 0) };
        if (state.tokensReadAt === 0) return refusal(limit, state, 'tokens', tpm, now);
      }
      if (tpm !== undefined && state.windowTokens + state.pendingTokens >= tpm) {
        // Past the time the window was to have room (or never told): read it again first.
        if (allowExchange && now >= state.tokensFreeAt && now >= state.retryAt) return { wait: state.acquiring ?? run(state, 0) };
        return refusal(limit, state, 'tokens', tpm, now);
      }
      const rpm = limit.requestsPerMinute;
      if (rpm !== undefined && (state.free <= 0 || now >= state.leaseUntil)) {
        if (!allowExchange || now < state.retryAt) return refusal(limit, state, 'requests', rpm, now);
        if (state.acquiring) return { wait: state.acquiring };
        return { wait: run(state, Math.max(1, Math.floor(rpm * sliceFraction))) };
      }
    }
    // Every limit has room: take one slot from each.
    for (let i = 0; i < items.length; i++) {
      const state = picked[i]!;
      state.lastUsedAt = now;
      if (items[i]!.limit.requestsPerMinute !== undefined) {
        state.free--;
        const last = state.usedBuckets.length - 1;
        if (last >= 0 && state.usedBuckets[last] === bucket) state.usedCounts[last]!++;
        else {
          state.usedBuckets.push(bucket);
          state.usedCounts.push(1);
        }
      }
    }
    return { states: picked };
  }

  return {
    stats() {
      let leases = 0;
      let freeSlots = 0;
      for (const state of states.values()) {
        if (state.leaseBucket >= 0) {
          leases++;
          freeSlots += state.free;
        }
      }
      return { keys: states.size, leases, freeSlots, syncs, syncFailures };
    },
    admit(items) {
      if (items.length === 0) return { states: [] };
      // A try that may not exchange never waits (a failed exchange refuses through retryAt), so
      // the loop ends by itself; `exhausted` is the same local answer.
      return admitWithLeases((mayExchange) => tryAdmit(items, clock(), mayExchange), {
        exchangeTries: 5,
        maxTries: Number.POSITIVE_INFINITY,
        exhausted: () => {
          throw new Error('rate limit admission waited without an exchange');
        },
      });
    },
    addTokens(ticket, tokens) {
      if (tokens <= 0) return;
      for (const state of ticket.states) {
        // A stream can outlast the idle key's state; its tokens still count.
        const current = states.get(state.key);
        if (current === undefined) states.set(state.key, state);
        (current ?? state).pendingTokens += tokens;
      }
    },
    async close() {
      await periodicSync.stop();
      await sync(true);
    },
  };
}
