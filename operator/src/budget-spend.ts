import { type CommonQueryMethods, sql } from '@codevector/core/create-pool';
import { z } from 'zod';

export type BudgetPeriod = 'day' | 'week' | 'month' | 'total';

/** The UTC calendar window containing `now` (weeks start on Monday, ISO 8601). */
export function budgetWindow(period: BudgetPeriod, now: Date): { start: Date | null; end: Date | null } {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  const d = now.getUTCDate();
  switch (period) {
    case 'day':
      return { start: new Date(Date.UTC(y, m, d)), end: new Date(Date.UTC(y, m, d + 1)) };
    case 'week': {
      const sinceMonday = (now.getUTCDay() + 6) % 7;
      return { start: new Date(Date.UTC(y, m, d - sinceMonday)), end: new Date(Date.UTC(y, m, d - sinceMonday + 7)) };
    }
    case 'month':
      return { start: new Date(Date.UTC(y, m, 1)), end: new Date(Date.UTC(y, m + 1, 1)) };
    case 'total':
      return { start: null, end: null };
  }
}

const iso = (date: Date) => date.toISOString().replace(/\.\d+Z$/, 'Z');

/**
 * What `kubectl get budgets` shows: spend, reservations and what is left in the current window,
 * read from the gateway's budget_windows (settled + leased). For eachUser budgets the figures
 * are those of the subject closest to its limit. Decimal strings, never floats.
 */
export async function budgetSpend(
  db: CommonQueryMethods,
  budget: { uid: string; amountUSD: string; period: BudgetPeriod },
  now: Date,
): Promise<Record<string, string>> {
  const window = budgetWindow(budget.period, now);
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
           trim_scale(${budget.amountUSD}::numeric - coalesce((select spent_usd + leased_usd from current), 0))::text as remaining`);
  return {
    spentUSD: row.spent,
    reservedUSD: row.reserved,
    remainingUSD: row.remaining,
    ...(window.start ? { periodStart: iso(window.start) } : {}),
    ...(window.end ? { resetsAt: iso(window.end) } : {}),
  };
}
