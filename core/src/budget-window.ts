import type { SnapshotBudget } from './config-snapshot.ts';

export type BudgetPeriod = SnapshotBudget['period'];

/**
 * The UTC calendar window of a budget period containing `now` (weeks start on Monday, ISO
 * 8601). `total` has no window: start and end are null. One function for the operator (status:
 * periodStart, resetsAt) and the gateway (the window its spend is charged to), so both always
 * agree on when a budget resets.
 */
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

/** Where budget_windows keys a window: a `total` budget's one window starts at the epoch. */
export function windowKeyStart(window: { start: Date | null }): Date {
  return window.start ?? new Date(0);
}
