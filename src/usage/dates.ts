import { invalidRequest } from '../errors.ts';

export const MINUTE = 60_000;
export const QUARTER_HOUR = 15 * MINUTE;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

const formats = new Map<string, Intl.DateTimeFormat>();

function partsFormat(tz: string): Intl.DateTimeFormat {
  let f = formats.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formats.set(tz, f);
  }
  return f;
}

/** Validates an IANA time zone name (the X-GoModel-Timezone header); absent means UTC. */
export function resolveTimeZone(header: string | undefined): string {
  const tz = header?.trim();
  if (!tz) return 'UTC';
  try {
    partsFormat(tz);
    return tz;
  } catch {
    throw invalidRequest(`unknown time zone "${tz}" in X-GoModel-Timezone: expected an IANA name such as Europe/Warsaw`, 'X-GoModel-Timezone');
  }
}

/** Wall-clock fields of an instant in a time zone. */
function wallClock(ms: number, tz: string) {
  const p: Record<string, number> = {};
  for (const { type, value } of partsFormat(tz).formatToParts(new Date(ms))) if (type !== 'literal') p[type] = Number(value);
  return { year: p.year!, month: p.month!, day: p.day!, hour: p.hour!, minute: p.minute!, second: p.second! };
}

/** Offset of the time zone from UTC at an instant, in milliseconds (local = UTC + offset). */
export function offsetAt(ms: number, tz: string): number {
  if (tz === 'UTC') return 0;
  const w = wallClock(ms, tz);
  const whole = ms - (((ms % 1000) + 1000) % 1000);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - whole;
}

/**
 * The first instant of a calendar day in a time zone: local midnight, or the first instant after
 * it when a DST change skips midnight (e.g. America/Santiago).
 */
export function localMidnight(date: CalendarDate, tz: string): number {
  const guess = Date.UTC(date.year, date.month - 1, date.day);
  const first = guess - offsetAt(guess, tz);
  const second = guess - offsetAt(first, tz);
  const candidates = first < second ? [first, second] : [second, first];
  const onDay = candidates.find((t) => {
    const w = wallClock(t, tz);
    return w.year === date.year && w.month === date.month && w.day === date.day;
  });
  return onDay ?? candidates[1]!;
}

export interface CalendarDate {
  year: number;
  month: number;
  day: number;
}

const formatDate = (d: CalendarDate): string =>
  `${String(d.year).padStart(4, '0')}-${String(d.month).padStart(2, '0')}-${String(d.day).padStart(2, '0')}`;

/** Adds days to a calendar date (calendar arithmetic, independent of time zones). */
export function addDays(d: CalendarDate, n: number): CalendarDate {
  const t = new Date(Date.UTC(d.year, d.month - 1, d.day) + n * DAY);
  return { year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate() };
}

const daysBetween = (a: CalendarDate, b: CalendarDate) =>
  Math.round((Date.UTC(b.year, b.month - 1, b.day) - Date.UTC(a.year, a.month - 1, a.day)) / DAY);

export function todayIn(tz: string, now: number): CalendarDate {
  const w = wallClock(now, tz);
  return { year: w.year, month: w.month, day: w.day };
}

function parseDate(value: string, param: string): CalendarDate {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  const d = m ? { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) } : null;
  if (!d || formatDate(addDays(d, 0)) !== value) throw invalidRequest(`invalid ${param} "${value}": expected a calendar date as YYYY-MM-DD`, param);
  return d;
}

/** An inclusive range of local calendar days and the half-open UTC interval it covers. */
export interface DateRange {
  startDate: string;
  endDate: string;
  /** First instant (inclusive), ms since epoch. */
  start: number;
  /** Instant after the last day (exclusive), ms since epoch. */
  end: number;
  /**
   * An end that selects the same rows as `end` and is a UTC midnight where it can be: totals
   * over a range that runs into the future read today as one daily bucket, instead of up to 23
   * hourly ones (or 15-minute ones in a :30 zone). Not for grouping by period: a bucket past the
   * end may cross a local midnight.
   */
  totalsEnd: number;
  /**
   * `end`, or when the range runs into the future the UTC midnight after now (no row lies beyond
   * it): rows are read up to here, so a far end date (9999-12-31) reads no more than today and
   * hands PostgreSQL no instant past what it takes.
   */
  rowsEnd: number;
}

/**
 * How far ahead of this process's clock a row's timestamp may be: rows carry the time they were
 * recorded, by this or another replica, so none lies further in the future than the replicas'
 * clocks disagree.
 */
const CLOCK_SKEW = 5 * MINUTE;

/** `end`, or the UTC midnight after now when the range runs past now (no row lies beyond it). */
function totalsEndOf(end: number, now: number): number {
  const latest = now + CLOCK_SKEW;
  return end > latest ? Math.ceil(latest / DAY) * DAY : end;
}

const MAX_RANGE_DAYS = 365;

/**
 * Resolves `days` / `start_date` / `end_date` in a time zone. Explicit dates win over `days`;
 * a missing start is 29 days before the end, a missing end is today. Ranges longer than 365 days
 * and reversed ranges are 400s.
 */
export function resolveDateRange(q: { days?: number; start_date?: string; end_date?: string }, tz: string, now: number): DateRange {
  const today = todayIn(tz, now);
  let first: CalendarDate;
  let last: CalendarDate;
  if (q.start_date !== undefined || q.end_date !== undefined) {
    last = q.end_date !== undefined ? parseDate(q.end_date, 'end_date') : today;
    first = q.start_date !== undefined ? parseDate(q.start_date, 'start_date') : addDays(last, -29);
    if (daysBetween(first, last) < 0) throw invalidRequest('start_date must not be after end_date', 'start_date');
    if (daysBetween(first, last) + 1 > MAX_RANGE_DAYS) throw invalidRequest(`date range must not exceed ${MAX_RANGE_DAYS} days`, 'start_date');
  } else {
    const days = q.days ?? 30;
    if (!Number.isInteger(days) || days < 1 || days > MAX_RANGE_DAYS) throw invalidRequest(`days must be an integer between 1 and ${MAX_RANGE_DAYS}`, 'days');
    last = today;
    first = addDays(today, -(days - 1));
  }
  const end = localMidnight(addDays(last, 1), tz);
  const totalsEnd = totalsEndOf(end, now);
  return { startDate: formatDate(first), endDate: formatDate(last), start: localMidnight(first, tz), end, totalsEnd, rowsEnd: Math.min(end, totalsEnd) };
}

/** RFC 3339 timestamp of an instant as wall-clock time in a time zone, with its offset. */
export function formatInZone(ms: number, tz: string): string {
  const off = offsetAt(ms, tz);
  const w = new Date(ms + off);
  const base = w.toISOString().slice(0, 19);
  if (off === 0) return `${base}Z`;
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off) / MINUTE;
  return `${base}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/**
 * Splits [start, end) into spans aligned to the given grains (largest first): whole grain-0
 * buckets in the middle, then grain-1 buckets at the edges, and so on; what no grain covers is
 * returned with grain `null` (to be read from raw rows).
 */
export function decompose(start: number, end: number, grains: readonly number[]): { grain: number | null; from: number; to: number }[] {
  if (start >= end) return [];
  const [g, ...rest] = grains;
  if (g === undefined) return [{ grain: null, from: start, to: end }];
  const a = Math.ceil(start / g) * g;
  const b = Math.floor(end / g) * g;
  if (a >= b) return decompose(start, end, rest);
  return [...decompose(start, a, rest), { grain: g, from: a, to: b }, ...decompose(b, end, rest)];
}
