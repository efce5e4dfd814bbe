import { describe, expect, it } from 'vitest';
import { budgetWindow, isTimeZone, windowKeyStart } from './budget-window.ts';

describe('budgetWindow', () => {
  const now = new Date('2026-03-05T17:30:00Z'); // a Thursday
  it('aligns day, week (Monday) and month to UTC calendar boundaries', () => {
    expect(budgetWindow('day', now)).toEqual({ start: new Date('2026-03-05T00:00:00Z'), end: new Date('2026-03-06T00:00:00Z') });
    expect(budgetWindow('week', now)).toEqual({ start: new Date('2026-03-02T00:00:00Z'), end: new Date('2026-03-09T00:00:00Z') });
    expect(budgetWindow('month', now)).toEqual({ start: new Date('2026-03-01T00:00:00Z'), end: new Date('2026-04-01T00:00:00Z') });
    expect(budgetWindow('month', new Date('2026-12-31T23:59:59Z')).end).toEqual(new Date('2027-01-01T00:00:00Z'));
  });
  it('has no window for total', () => {
    expect(budgetWindow('total', now)).toEqual({ start: null, end: null });
  });
  it('treats Sunday as the end of the week', () => {
    expect(budgetWindow('week', new Date('2026-03-08T23:00:00Z')).start).toEqual(new Date('2026-03-02T00:00:00Z'));
  });
});

describe('windowKeyStart', () => {
  it('keys a total budget at the epoch and every other period at its start', () => {
    const now = new Date('2026-03-05T17:30:00Z');
    expect(windowKeyStart(budgetWindow('total', now))).toEqual(new Date(0));
    expect(windowKeyStart(budgetWindow('day', now))).toEqual(new Date('2026-03-05T00:00:00Z'));
  });
  it('crosses year boundaries for weeks the way the gateway charges them', () => {
    // 2027-01-01 is a Friday: its week began on Monday 2026-12-28.
    expect(budgetWindow('week', new Date('2027-01-01T12:00:00Z'))).toEqual({
      start: new Date('2026-12-28T00:00:00Z'),
      end: new Date('2027-01-04T00:00:00Z'),
    });
  });
});

describe('budget windows in a time zone', () => {
  it('resets a monthly budget at local midnight on the 1st', () => {
    // 2026-03-01 00:30 in Berlin is still February in UTC.
    const now = new Date('2026-02-28T23:30:00Z');
    expect(budgetWindow('month', now, 'Europe/Berlin')).toEqual({
      start: new Date('2026-02-28T23:00:00Z'),
      end: new Date('2026-03-31T22:00:00Z'), // April starts after the switch to summer time
    });
    expect(budgetWindow('month', now)).toEqual({ start: new Date('2026-02-01T00:00:00Z'), end: new Date('2026-03-01T00:00:00Z') });
  });
  it('makes a daylight-saving day 23 hours long, and weeks start on local Monday', () => {
    // US clocks spring forward on 2026-03-08.
    const day = budgetWindow('day', new Date('2026-03-08T12:00:00Z'), 'America/New_York');
    expect(day).toEqual({ start: new Date('2026-03-08T05:00:00Z'), end: new Date('2026-03-09T04:00:00Z') });
    // Monday 2026-03-09 01:00 in Tokyo is Sunday in UTC: the Tokyo week has begun.
    expect(budgetWindow('week', new Date('2026-03-08T16:00:00Z'), 'Asia/Tokyo').start).toEqual(new Date('2026-03-08T15:00:00Z'));
  });
  it('knows time zone names', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
  });
});
