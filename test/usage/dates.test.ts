import { describe, expect, it } from 'vitest';
import { DAY, decompose, formatInZone, HOUR, localMidnight, offsetAt, resolveDateRange } from '../../src/usage/dates.ts';

const iso = (ms: number) => new Date(ms).toISOString();

describe('localMidnight', () => {
  it('finds local midnight on both sides of a DST change', () => {
    expect(iso(localMidnight({ year: 2026, month: 10, day: 25 }, 'Europe/Warsaw'))).toBe('2026-10-24T22:00:00.000Z');
    expect(iso(localMidnight({ year: 2026, month: 10, day: 26 }, 'Europe/Warsaw'))).toBe('2026-10-25T23:00:00.000Z');
    expect(iso(localMidnight({ year: 2026, month: 3, day: 8 }, 'America/New_York'))).toBe('2026-03-08T05:00:00.000Z');
    expect(iso(localMidnight({ year: 2026, month: 3, day: 9 }, 'America/New_York'))).toBe('2026-03-09T04:00:00.000Z');
  });

  it('handles :30 and :45 offsets', () => {
    expect(iso(localMidnight({ year: 2026, month: 11, day: 2 }, 'Asia/Kolkata'))).toBe('2026-11-01T18:30:00.000Z');
    expect(iso(localMidnight({ year: 2026, month: 11, day: 2 }, 'Asia/Kathmandu'))).toBe('2026-11-01T18:15:00.000Z');
  });

  it('uses the first instant of a day whose midnight does not exist', () => {
    // Santiago springs forward at 00:00 -> 01:00 on 2026-09-06
    const t = localMidnight({ year: 2026, month: 9, day: 6 }, 'America/Santiago');
    expect(formatInZone(t, 'America/Santiago').slice(0, 10)).toBe('2026-09-06');
    expect(offsetAt(t, 'America/Santiago')).toBe(-3 * HOUR);
  });
});

describe('resolveDateRange', () => {
  const now = Date.parse('2026-11-21T23:30:00Z');
  it('counts days back from today in the zone', () => {
    expect(resolveDateRange({}, 'UTC', now)).toMatchObject({ startDate: '2026-10-23', endDate: '2026-11-21' });
    expect(resolveDateRange({ days: 1 }, 'Europe/Warsaw', now)).toMatchObject({ startDate: '2026-11-22', endDate: '2026-11-22' });
  });
  it('defaults a missing start to 29 days before the end and a missing end to today', () => {
    expect(resolveDateRange({ end_date: '2026-03-31' }, 'UTC', now)).toMatchObject({ startDate: '2026-03-02' });
    expect(resolveDateRange({ start_date: '2026-11-01' }, 'UTC', now)).toMatchObject({ endDate: '2026-11-21' });
  });
  it('reads totals of a range that runs past now up to the next UTC midnight, where no row lies', () => {
    // 23:30 UTC is 00:30 in Warsaw: today there ends at 23:00 UTC tomorrow.
    expect(iso(resolveDateRange({ days: 7 }, 'Europe/Warsaw', now).totalsEnd)).toBe('2026-11-22T00:00:00.000Z');
    // Within the clock skew allowed of the end, rows up to the end may exist: the end stays.
    const late = resolveDateRange({ days: 7 }, 'Europe/Warsaw', Date.parse('2026-11-22T22:57:00Z'));
    expect(late.totalsEnd).toBe(late.end);
    // Kolkata's day of 2026-11-22 ends at 18:30 UTC; now is later: the range is over.
    const over = resolveDateRange({ end_date: '2026-11-21' }, 'Asia/Kolkata', now);
    expect(over.totalsEnd).toBe(over.end);
  });
  it('accepts exactly 365 days and leap days', () => {
    expect(resolveDateRange({ start_date: '2024-01-01', end_date: '2024-12-30' }, 'UTC', now).end - Date.parse('2024-01-01')).toBe(365 * DAY);
    expect(() => resolveDateRange({ start_date: '2023-02-29' }, 'UTC', now)).toThrow(/calendar date/);
  });
});

describe('decompose', () => {
  it('uses whole days, then hours, then raw edges', () => {
    const start = Date.parse('2026-11-01T18:30:00Z');
    const end = Date.parse('2026-11-04T18:30:00Z');
    expect(decompose(start, end, [DAY, HOUR]).map((s) => [s.grain, iso(s.from), iso(s.to)])).toEqual([
      [null, '2026-11-01T18:30:00.000Z', '2026-11-01T19:00:00.000Z'],
      [HOUR, '2026-11-01T19:00:00.000Z', '2026-11-02T00:00:00.000Z'],
      [DAY, '2026-11-02T00:00:00.000Z', '2026-11-04T00:00:00.000Z'],
      [HOUR, '2026-11-04T00:00:00.000Z', '2026-11-04T18:00:00.000Z'],
      [null, '2026-11-04T18:00:00.000Z', '2026-11-04T18:30:00.000Z'],
    ]);
  });
  it('falls back to finer grains when no whole bucket fits', () => {
    const start = Date.parse('2026-11-01T10:10:00Z');
    expect(decompose(start, start + 20 * 60_000, [DAY, HOUR])).toEqual([{ grain: null, from: start, to: start + 20 * 60_000 }]);
  });
});
