import type { SnapshotBudget } from './config-snapshot.ts';

export type BudgetPeriod = SnapshotBudget['period'];

/**
 * The calendar window of a budget period containing `now`, in a time zone (default UTC): a day
 * from local midnight, a week from Monday (ISO 8601), a month from the 1st. Daylight-saving
 * days are 23 or 25 hours long, as a person in that zone would expect. `total` has no window:
 * start and end are null. One function for the operator (status: periodStart, resetsAt) and the
 * gateway (the window its spend is charged to), so both always agree on when a budget resets.
 */
export function budgetWindow(period: BudgetPeriod, now: Date, timeZone = 'UTC'): { start: Date | null; end: Date | null } {
  if (period === 'total') return { start: null, end: null };
  const { y, m, d, weekday } = timeZone === 'UTC' ? utcParts(now) : zonedParts(now, timeZone);
  switch (period) {
    case 'day':
      return { start: midnight(y, m, d, timeZone), end: midnight(y, m, d + 1, timeZone) };
    case 'week': {
      const sinceMonday = (weekday + 6) % 7;
      return { start: midnight(y, m, d - sinceMonday, timeZone), end: midnight(y, m, d - sinceMonday + 7, timeZone) };
    }
    case 'month':
      return { start: midnight(y, m, 1, timeZone), end: midnight(y, m + 1, 1, timeZone) };
  }
}

type DateParts = { y: number; m: number; d: number; weekday: number };

function utcParts(date: Date): DateParts {
  return { y: date.getUTCFullYear(), m: date.getUTCMonth(), d: date.getUTCDate(), weekday: date.getUTCDay() };
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** The wall-clock fields of an instant in a time zone, as UTC milliseconds of that wall time. */
function wallTime(date: Date, timeZone: string): number {
  const parts: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(date)) if (part.type !== 'literal') parts[part.type] = Number(part.value);
  return Date.UTC(parts['year']!, parts['month']! - 1, parts['day']!, parts['hour']!, parts['minute']!, parts['second']!);
}

function zonedParts(date: Date, timeZone: string): DateParts {
  return utcParts(new Date(wallTime(date, timeZone)));
}

/** The instant of local midnight on a (possibly overflowing, e.g. day 32) date in a time zone. */
function midnight(y: number, m: number, d: number, timeZone: string): Date {
  const wall = Date.UTC(y, m, d);
  if (timeZone === 'UTC') return new Date(wall);
  // The zone's offset at the guess, then again at the corrected instant (DST changes between).
  let instant = wall - (wallTime(new Date(wall), timeZone) - wall);
  instant = wall - (wallTime(new Date(instant), timeZone) - instant);
  return new Date(instant);
}

/** Whether the runtime knows an IANA time zone name. */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** Where budget_windows keys a window: a `total` budget's one window starts at the epoch. */
export function windowKeyStart(window: { start: Date | null }): Date {
  return window.start ?? new Date(0);
}
