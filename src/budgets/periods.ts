import { DAY, HOUR } from '../usage/dates.ts';

/** When periods start, in UTC (the settings of /admin/budgets/settings). */
export interface BudgetSettings {
  daily_reset_hour: number;
  daily_reset_minute: number;
  /** 0 = Sunday … 6 = Saturday. */
  weekly_reset_weekday: number;
  weekly_reset_hour: number;
  weekly_reset_minute: number;
  /** 1–31, clamped to the length of each month. */
  monthly_reset_day: number;
  monthly_reset_hour: number;
  monthly_reset_minute: number;
}

export const HOURLY = 3600;
export const DAILY = 86_400;
export const WEEKLY = 604_800;
/** Not 30 days: the sentinel for calendar months. */
export const MONTHLY = 2_592_000;

export const defaultSettings: BudgetSettings = {
  daily_reset_hour: 0,
  daily_reset_minute: 0,
  weekly_reset_weekday: 1,
  weekly_reset_hour: 0,
  weekly_reset_minute: 0,
  monthly_reset_day: 1,
  monthly_reset_hour: 0,
  monthly_reset_minute: 0,
};

export interface Period {
  /** Inclusive, ms since epoch. */
  start: number;
  /** Exclusive, ms since epoch. */
  end: number;
}

export function periodLabel(seconds: number): string {
  switch (seconds) {
    case HOURLY:
      return 'hourly';
    case DAILY:
      return 'daily';
    case WEEKLY:
      return 'weekly';
    case MONTHLY:
      return 'monthly';
    default:
      return `${seconds}s`;
  }
}

const daysInMonth = (year: number, month: number) => new Date(Date.UTC(year, month + 1, 0)).getUTCDate();

/** The anchor instant of a month (0-based), its day clamped to the month's length (31 → 30 April). */
function monthAnchor(year: number, month: number, s: BudgetSettings): number {
  const y = year + Math.floor(month / 12);
  const m = ((month % 12) + 12) % 12;
  return Date.UTC(y, m, Math.min(s.monthly_reset_day, daysInMonth(y, m)), s.monthly_reset_hour, s.monthly_reset_minute);
}

/** The natural period containing `now`, from the reset anchors (UTC). */
export function naturalPeriod(seconds: number, s: BudgetSettings, now: number): Period {
  const d = new Date(now);
  const y = d.getUTCFullYear();
  const mo = d.getUTCMonth();
  const day = d.getUTCDate();
  switch (seconds) {
    case HOURLY: {
      const start = Math.floor(now / HOUR) * HOUR;
      return { start, end: start + HOUR };
    }
    case DAILY: {
      let start = Date.UTC(y, mo, day, s.daily_reset_hour, s.daily_reset_minute);
      if (start > now) start -= DAY;
      return { start, end: start + DAY };
    }
    case WEEKLY: {
      const back = (d.getUTCDay() - s.weekly_reset_weekday + 7) % 7;
      let start = Date.UTC(y, mo, day - back, s.weekly_reset_hour, s.weekly_reset_minute);
      if (start > now) start -= 7 * DAY;
      return { start, end: start + 7 * DAY };
    }
    case MONTHLY: {
      let month = mo;
      if (monthAnchor(y, month, s) > now) month -= 1;
      return { start: monthAnchor(y, month, s), end: monthAnchor(y, month + 1, s) };
    }
    default: {
      const size = seconds * 1000;
      const start = now - (((now % size) + size) % size);
      return { start, end: start + size };
    }
  }
}

/**
 * The current period of a budget: the natural one, started later by a manual reset inside it.
 * The end stays the natural end.
 */
export function currentPeriod(seconds: number, s: BudgetSettings, lastResetAt: number | null, now: number): Period {
  const p = naturalPeriod(seconds, s, now);
  if (lastResetAt !== null && lastResetAt > p.start && lastResetAt <= now) return { start: lastResetAt, end: p.end };
  return p;
}

/** Elapsed fraction of the period, clamped to [0, 1]. */
export function periodRatio(p: Period, now: number): number {
  return Math.min(1, Math.max(0, (now - p.start) / (p.end - p.start)));
}
