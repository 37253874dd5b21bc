import { describe, expect, it } from 'vitest';
import { currentPeriod, DAILY, defaultSettings, HOURLY, MONTHLY, naturalPeriod, periodLabel, periodRatio, WEEKLY, type BudgetSettings } from '../../src/budgets/periods.ts';

const t = (iso: string) => Date.parse(iso);
const bounds = (seconds: number, now: string, s: Partial<BudgetSettings> = {}, lastReset?: string) => {
  const p = currentPeriod(seconds, { ...defaultSettings, ...s }, lastReset ? t(lastReset) : null, t(now));
  return [new Date(p.start).toISOString(), new Date(p.end).toISOString()];
};

describe('natural periods', () => {
  it('hourly truncates to the hour', () => {
    expect(bounds(HOURLY, '2026-11-22T10:59:59.999Z')).toEqual(['2026-11-22T10:00:00.000Z', '2026-11-22T11:00:00.000Z']);
  });

  it('daily starts at the anchor, or at yesterday’s before it', () => {
    expect(bounds(DAILY, '2026-11-22T10:00:00Z')).toEqual(['2026-11-22T00:00:00.000Z', '2026-11-23T00:00:00.000Z']);
    const s = { daily_reset_hour: 18, daily_reset_minute: 30 };
    expect(bounds(DAILY, '2026-11-22T10:00:00Z', s)).toEqual(['2026-11-21T18:30:00.000Z', '2026-11-22T18:30:00.000Z']);
    expect(bounds(DAILY, '2026-11-22T18:30:00Z', s)).toEqual(['2026-11-22T18:30:00.000Z', '2026-11-23T18:30:00.000Z']);
  });

  it('weekly starts on the anchor weekday, across a month and a year end', () => {
    // 2026-11-22 is a Sunday; the default anchor is Monday 00:00
    expect(bounds(WEEKLY, '2026-11-22T12:00:00Z')).toEqual(['2026-11-16T00:00:00.000Z', '2026-11-23T00:00:00.000Z']);
    expect(bounds(WEEKLY, '2026-11-22T12:00:00Z', { weekly_reset_weekday: 0, weekly_reset_hour: 13 })).toEqual(['2026-11-15T13:00:00.000Z', '2026-11-22T13:00:00.000Z']);
    expect(bounds(WEEKLY, '2027-01-02T00:00:00Z', { weekly_reset_weekday: 3 })).toEqual(['2026-12-30T00:00:00.000Z', '2027-01-06T00:00:00.000Z']);
  });

  it('monthly clamps an anchor past the month’s end, in leap and common years', () => {
    const day31 = { monthly_reset_day: 31 };
    expect(bounds(MONTHLY, '2026-04-15T00:00:00Z', day31)).toEqual(['2026-03-31T00:00:00.000Z', '2026-04-30T00:00:00.000Z']);
    expect(bounds(MONTHLY, '2026-04-30T00:00:00Z', day31)).toEqual(['2026-04-30T00:00:00.000Z', '2026-05-31T00:00:00.000Z']);
    expect(bounds(MONTHLY, '2028-02-29T12:00:00Z', day31)).toEqual(['2028-02-29T00:00:00.000Z', '2028-03-31T00:00:00.000Z']);
    expect(bounds(MONTHLY, '2027-02-28T12:00:00Z', { monthly_reset_day: 30 })).toEqual(['2027-02-28T00:00:00.000Z', '2027-03-30T00:00:00.000Z']);
    expect(bounds(MONTHLY, '2027-02-27T12:00:00Z', { monthly_reset_day: 29 })).toEqual(['2027-01-29T00:00:00.000Z', '2027-02-28T00:00:00.000Z']);
  });

  it('monthly rolls over the year with an hour anchor', () => {
    expect(bounds(MONTHLY, '2027-01-01T05:00:00Z', { monthly_reset_hour: 6 })).toEqual(['2026-12-01T06:00:00.000Z', '2027-01-01T06:00:00.000Z']);
    expect(bounds(MONTHLY, '2026-12-31T23:59:59Z')).toEqual(['2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
  });

  it('custom periods are epoch-aligned windows', () => {
    expect(bounds(900, '2026-11-22T10:07:00Z')).toEqual(['2026-11-22T10:00:00.000Z', '2026-11-22T10:15:00.000Z']);
    expect(naturalPeriod(7 * 3600, defaultSettings, t('1970-01-01T08:00:00Z'))).toEqual({ start: t('1970-01-01T07:00:00Z'), end: t('1970-01-01T14:00:00Z') });
  });
});

describe('manual resets', () => {
  it('start the period at the reset, keeping its natural end', () => {
    expect(bounds(DAILY, '2026-11-22T10:00:00Z', {}, '2026-11-22T08:15:00Z')).toEqual(['2026-11-22T08:15:00.000Z', '2026-11-23T00:00:00.000Z']);
  });

  it('stop mattering once the period they fell in is over', () => {
    expect(bounds(DAILY, '2026-11-23T10:00:00Z', {}, '2026-11-22T08:15:00Z')).toEqual(['2026-11-23T00:00:00.000Z', '2026-11-24T00:00:00.000Z']);
    expect(bounds(MONTHLY, '2026-12-03T00:00:00Z', {}, '2026-11-30T23:00:00Z')).toEqual(['2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
  });
});

describe('labels and ratios', () => {
  it('names the standard periods and shows custom ones in seconds', () => {
    expect([HOURLY, DAILY, WEEKLY, MONTHLY, 900].map(periodLabel)).toEqual(['hourly', 'daily', 'weekly', 'monthly', '900s']);
  });

  it('clamps the elapsed ratio to [0, 1]', () => {
    const p = { start: 0, end: 100 };
    expect([periodRatio(p, 25), periodRatio(p, -5), periodRatio(p, 500)]).toEqual([0.25, 0, 1]);
  });
});
