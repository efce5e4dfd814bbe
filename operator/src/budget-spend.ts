import { budgetWindow } from '@codevector/core/budget-window';
import type { SnapshotBudget } from '@codevector/core/config-snapshot';
import { type CommonQueryMethods, sql } from '@codevector/core/create-pool';
import { formatUsd } from '@codevector/core/money';
import { z } from 'zod';

const iso = (date: Date) => date.toISOString().replace(/\.\d+Z$/, 'Z');

/**
 * What `kubectl get budgets` shows: spend, reservations and what is left in the current window,
 * read from the gateway's budget_windows (settled + leased). For eachUser budgets the figures
 * are those of the subject closest to its limit. Decimal strings, never floats.
 */
export async function budgetSpend(
  db: CommonQueryMethods,
  budget: Pick<SnapshotBudget, 'uid' | 'amount' | 'period' | 'timeZone'>,
  now: Date,
): Promise<Record<string, string>> {
  const window = budgetWindow(budget.period, now, budget.timeZone);
  const row = await db.one(sql.type(z.object({ spent: z.string(), reserved: z.string(), remaining: z.string() }))`
    with current as (
      select spent_usd, leased_usd from budget_windows
      where budget_uid = ${budget.uid}
        and window_start <= ${iso(now)}::timestamptz
        and (window_end is null or window_end > ${iso(now)}::timestamptz)
      order by spent_usd + leased_usd desc
      limit 1
    )
    select trim_scale(coalesce((select spent_usd from current), 0))::text as spent,
           trim_scale(coalesce((select leased_usd from current), 0))::text as reserved,
           trim_scale(${formatUsd(budget.amount)}::numeric - coalesce((select spent_usd + leased_usd from current), 0))::text as remaining`);
  return {
    spentUSD: row.spent,
    reservedUSD: row.reserved,
    remainingUSD: row.remaining,
    ...(window.start ? { periodStart: iso(window.start) } : {}),
    ...(window.end ? { resetsAt: iso(window.end) } : {}),
  };
}
