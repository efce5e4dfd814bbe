import { randomUUID } from 'node:crypto';
import { budgetWindow, windowKeyStart } from '@codevector/core/budget-window';
import type { SnapshotBudget } from '@codevector/core/config-snapshot';
import { type DatabasePool, sql } from '@codevector/core/create-pool';
import type { Logger } from '@codevector/core/logger';
import { formatUsd, fractionOf, type Money, maxMoney, minMoney, parseUsd } from '@codevector/core/money';
import { z } from 'zod';
import { admitWithLeases } from './lease-admission.ts';
import { startPeriodicPush } from './periodic-push.ts';

/**
 * Budgets that hold across replicas (DESIGN §5.5, ADR 0111). Each (Budget, subject, calendar
 * window) has one row with spent_usd and leased_usd. A replica leases dollars with one atomic
 * upsert that never grants more than limit − spent − leased, reserves each request's cost from
 * its lease before forwarding, and settles the real cost after: spent += cost, leased −= cost.
 * Unused leases go back when the budget goes idle and on shutdown.
 *
 * Bound: spent + leased ≤ limit at every grant, and a replica only admits against its lease, so
 * the fleet overspends by at most Σ max(0, actual − reserved) over requests in flight. In
 * `strict` mode the reservation is the worst case (every byte a token at the dearest input
 * price, plus max_tokens of output), so actual ≤ reserved and overspend is zero.
 *
 * Leases expire (migration 0201): each is a row in gateway_leases that the replica renews on its
 * periodic push; the next grant on the window by any replica returns expired leases to the pool
 * in the same statement, so a crashed replica strands its slice for at most `leaseTtlMs`. A
 * replica admits from its lease only until its own deadline (sent-at + 90 % of the TTL, measured
 * before the database stamps the expiry), so a lease that may have been reclaimed is never spent
 * again without leasing anew; the database's answer is the truth about what the lease holds.
 */
export type BudgetRefusal = {
  budget: SnapshotBudget;
  subject: string;
  spent: Money;
  resetAt: Date | null;
  /** The lease could not be had because the database did not answer: not a spent budget (fails closed, retryable). */
  unavailable?: boolean;
};

/** What a request may cost, exact (ADR 0004): expected, and the worst case for strict budgets. */
export type CostEstimate = { expected: Money; worst: Money };

type Hold = { state: BudgetState; amount: Money };
export type BudgetTicket = { holds: Hold[] };

export type BudgetLedger = {
  /** Reserves the estimate against every budget that applies, or names the first that cannot pay. */
  reserve(
    budgets: readonly { budget: SnapshotBudget; subject: string }[],
    estimate: CostEstimate,
  ): BudgetTicket | BudgetRefusal | Promise<BudgetTicket | BudgetRefusal>;
  /** Settles the real cost of an admitted request (0 when it failed before any usage). */
  settle(ticket: BudgetTicket, cost: Money): void;
  /** Current spend a replica knows for a budget window (settled, including its unflushed part). */
  spendOf(budgetUid: string, subject: string): Money | null;
  /** Pushes settled spend and returns leases. */
  close(): Promise<void>;
  /** What this replica holds, for /metrics (read at scrape time, never on the request path). */
  stats(): BudgetLedgerStats;
};

export type BudgetLedgerStats = {
  /** (Budget, subject, window) entries this replica tracks. */
  windows: number;
  /** USD this replica holds in leases, and the part of it promised to requests in flight. */
  leased: Money;
  reserved: Money;
  /** Settled spend not yet in the database. */
  unsynced: Money;
  /** Exchanges with the database (lease, settle, release, renewal) and those that failed. */
  syncs: number;
  syncFailures: number;
};

type BudgetState = {
  budget: SnapshotBudget;
  subject: string;
  windowStart: Date;
  windowEnd: Date | null;
  /** What this replica holds in leased_usd. */
  held: Money;
  /** Part of `held` promised to requests in flight. */
  reserved: Money;
  pendingSpent: Money;
  /** Spend on its way to the database in the exchange now running (in neither pendingSpent nor globalSpent yet). */
  sendingSpent: Money;
  pendingRelease: Money;
  globalSpent: Money;
  /** The lease or push in flight for this window; at most one at a time. */
  acquiring: Promise<void> | null;
  retryLeaseAt: number;
  lastUsedAt: number;
  /** Local deadline of the lease: admit from `held` only before it. */
  validUntil: number;
  /** The last exchange with the database failed. */
  syncFailed: boolean;
  /** The last grant asked for gave less than wanted: the budget is really (nearly) spent. */
  shortGrant: boolean;
};

// numeric arrives as exact decimal text (core's pool) and becomes picodollars here.
const money = z.string().transform(parseUsd);
const syncRow = z.object({ granted: money, spent_usd: money, leased_usd: money, lease_usd: money });

/** What a replica knows is spent in a window: settled in the database, being sent, and not yet sent. */
const spentOf = (state: BudgetState): Money => state.globalSpent + state.sendingSpent + state.pendingSpent;

/**
 * A refusal is "spent" only when the database said so (its last grant came back short); a lease
 * that failed or never came in time is the database being unavailable, which clients may retry.
 */
function unavailable(state: BudgetState): boolean {
  return state.syncFailed || !state.shortGrant;
}

export function createBudgetLedger(options: {
  pool: DatabasePool;
  logger: Logger;
  clock?: () => number;
  syncMs?: number;
  idleReturnMs?: number;
  /** Fraction of the limit leased at a time (at least the request's reservation). */
  sliceFraction?: number;
  /** How long a lease outlives its replica's last push; renewed when half of it is left. */
  leaseTtlMs?: number;
  /** Identifies this replica's leases; a new one per process. */
  replicaId?: string;
}): BudgetLedger {
  const { pool, logger } = options;
  const clock = options.clock ?? Date.now;
  const syncMs = options.syncMs ?? 100;
  const idleReturnMs = options.idleReturnMs ?? 1000;
  const sliceFraction = options.sliceFraction ?? 0.01;
  const leaseTtlMs = options.leaseTtlMs ?? 10_000;
  const replicaId = options.replicaId ?? randomUUID();
  const states = new Map<string, BudgetState>();
  let syncs = 0;
  let syncFailures = 0;

  function stateFor(budget: SnapshotBudget, subject: string, now: number): BudgetState {
    const key = `${budget.uid}\u0000${subject}`;
    let state = states.get(key);
    if (!state || (state.windowEnd !== null && now >= state.windowEnd.getTime()) || state.budget !== budget) {
      const window = budgetWindow(budget.period, new Date(now), budget.timeZone);
      const windowStart = windowKeyStart(window);
      if (state && state.windowStart.getTime() === windowStart.getTime()) {
        state.budget = budget; // a config change keeps the counters of the same window
        return state;
      }
      if (state) retire(state);
      state = {
        budget,
        subject,
        windowStart,
        windowEnd: window.end,
        held: 0n,
        reserved: 0n,
        pendingSpent: 0n,
        sendingSpent: 0n,
        pendingRelease: 0n,
        globalSpent: 0n,
        acquiring: null,
        retryLeaseAt: 0,
        lastUsedAt: now,
        validUntil: 0,
        syncFailed: false,
        shortGrant: false,
      };
      states.set(key, state);
    }
    return state;
  }

  const retired = new Set<BudgetState>();
  function retire(state: BudgetState): void {
    // Its window is over: settle what is pending; in-flight requests still settle into it.
    retired.add(state);
  }

  /**
   * One round trip that settles pending spend and releases, reclaims expired leases of other
   * replicas, grants up to `want` and renews this replica's lease (gateway_budget_sync).
   */
  async function exchange(state: BudgetState, want: Money): Promise<void> {
    syncs++;
    const spent = state.pendingSpent;
    const release = state.pendingRelease;
    state.pendingSpent = 0n;
    state.sendingSpent = spent;
    state.pendingRelease = 0n;
    const sentAt = clock();
    try {
      const row = await pool.one(sql.type(syncRow)`
        select granted, spent_usd, leased_usd, lease_usd from gateway_budget_sync(
          ${state.budget.uid}, ${state.subject}, ${state.windowStart.toISOString()}, ${state.windowEnd?.toISOString() ?? null},
          ${formatUsd(state.budget.amount)}::numeric, ${replicaId}, ${formatUsd(want)}::numeric, ${formatUsd(spent)}::numeric,
          ${formatUsd(release)}::numeric, ${leaseTtlMs})`);
      // Releases settled while the statement ran are not in the database's answer yet.
      state.held = maxMoney(0n, row.lease_usd - state.pendingRelease);
      state.globalSpent = row.spent_usd;
      state.sendingSpent = 0n;
      state.validUntil = row.lease_usd > 0n ? sentAt + leaseTtlMs * 0.9 : 0;
      if (row.granted < want) state.retryLeaseAt = clock() + 100;
      if (want > 0n) state.shortGrant = row.granted < want;
      state.syncFailed = false;
    } catch (error) {
      state.syncFailed = true;
      state.pendingSpent += spent;
      state.sendingSpent = 0n;
      state.pendingRelease += release;
      state.retryLeaseAt = clock() + 200;
      syncFailures++;
      logger.error({ err: error }, want > 0n ? 'budget lease failed' : 'budget spend sync failed');
    }
  }

  function run(state: BudgetState, want: Money): Promise<void> {
    const acquiring = exchange(state, want).finally(() => {
      state.acquiring = null;
    });
    state.acquiring = acquiring;
    return acquiring;
  }

  function needsPush(state: BudgetState, now: number): boolean {
    if (state.pendingSpent !== 0n || state.pendingRelease !== 0n) return true;
    // Renew a lease while half of its time is left, so it never lapses on a live replica.
    return state.held > 0n && state.validUntil - now < leaseTtlMs * 0.45;
  }

  function returnFree(state: BudgetState): void {
    const free = state.held - state.reserved;
    if (free <= 0n) return;
    state.held -= free;
    state.pendingRelease += free;
  }

  async function sync(final: boolean): Promise<void> {
    const now = clock();
    const work: Promise<void>[] = [];
    for (const state of [...states.values(), ...retired]) {
      if (final && state.acquiring) await state.acquiring;
      if (state.acquiring) continue;
      if (final || retired.has(state) || now - state.lastUsedAt > idleReturnMs) returnFree(state);
      if (needsPush(state, now)) work.push(run(state, 0n));
      else if (retired.has(state) && state.reserved === 0n) retired.delete(state);
    }
    await Promise.all(work);
  }

  const periodicSync = startPeriodicPush(() => sync(false), syncMs);

  function tryReserve(
    items: readonly { budget: SnapshotBudget; subject: string }[],
    estimate: CostEstimate,
    now: number,
    allowLease: boolean,
  ): BudgetTicket | BudgetRefusal | { wait: Promise<void> } {
    const holds: Hold[] = [];
    for (const { budget, subject } of items) {
      const state = stateFor(budget, subject, now);
      const amount = budget.strict ? estimate.worst : estimate.expected;
      holds.push({ state, amount });
      if (budget.mode === 'observe') continue;
      if (now < state.validUntil && state.held - state.reserved >= amount) continue;
      if (state.acquiring) return { wait: state.acquiring };
      if (!allowLease || now < state.retryLeaseAt) {
        return { budget, subject, spent: spentOf(state), resetAt: state.windowEnd, ...(unavailable(state) ? { unavailable: true } : {}) };
      }
      const want = maxMoney(amount - (state.held - state.reserved), fractionOf(budget.amount, sliceFraction));
      return { wait: run(state, want) };
    }
    for (const hold of holds) {
      hold.state.reserved += hold.amount;
      hold.state.lastUsedAt = now;
    }
    return { holds };
  }

  return {
    stats() {
      let leased = 0n;
      let reserved = 0n;
      let unsynced = 0n;
      for (const state of states.values()) {
        leased += state.held;
        reserved += state.reserved;
        unsynced += state.pendingSpent + state.sendingSpent;
      }
      return { windows: states.size, leased, reserved, unsynced, syncs, syncFailures };
    },
    reserve(items, estimate) {
      if (items.length === 0) return { holds: [] };
      return admitWithLeases((mayExchange) => tryReserve(items, estimate, clock(), mayExchange), {
        exchangeTries: 5,
        maxTries: 9,
        exhausted: () => {
          const { budget, subject } = items[0]!;
          const state = stateFor(budget, subject, clock());
          return { budget, subject, spent: spentOf(state), resetAt: state.windowEnd, ...(unavailable(state) ? { unavailable: true } : {}) };
        },
      });
    },
    settle(ticket, cost) {
      for (const { state, amount } of ticket.holds) {
        state.pendingSpent += cost;
        if (state.budget.mode === 'observe') continue;
        state.reserved = maxMoney(0n, state.reserved - amount);
        const release = minMoney(cost, state.held);
        state.held -= release;
        state.pendingRelease += release;
      }
    },
    spendOf(budgetUid, subject) {
      const state = states.get(`${budgetUid}\u0000${subject}`);
      return state ? spentOf(state) : null;
    },
    async close() {
      await periodicSync.stop();
      await sync(true);
    },
  };
}
