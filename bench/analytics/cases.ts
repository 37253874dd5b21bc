import { sample } from './dataset.ts';

/** One analytics request as a dashboard would send it. */
export interface AnalyticsCase {
  /** Stable id, e.g. `summary/subtree`. */
  id: string;
  path: string;
  query: Record<string, string>;
  timeZone?: string;
  /** A log page with a filter and its total: held to the log target (p95 ≤ 100 ms at 10 M). */
  logWithFilter?: boolean;
}

const breakdownVariants: { name: string; query: Record<string, string>; timeZone?: string }[] = [
  { name: '30d', query: {} },
  { name: '7d', query: { days: '7' } },
  { name: '90d', query: { days: '90' } },
  { name: 'user_path subtree', query: { user_path: sample.org } },
  { name: 'model', query: { model: sample.model } },
  { name: 'provider', query: { provider: sample.provider } },
  { name: 'label', query: { label: sample.label } },
  { name: 'cache_mode=all', query: { cache_mode: 'all' } },
  { name: 'Europe/Warsaw', query: {}, timeZone: 'Europe/Warsaw' },
  { name: 'Asia/Kolkata', query: {}, timeZone: 'Asia/Kolkata' },
];

const breakdowns = ['summary', 'models', 'user-paths', 'labels'].flatMap((endpoint) =>
  breakdownVariants.map((v): AnalyticsCase => ({ id: `${endpoint}/${v.name}`, path: `/admin/usage/${endpoint}`, query: v.query, timeZone: v.timeZone })),
);

const daily: AnalyticsCase[] = [
  { id: 'daily/30d', path: '/admin/usage/daily', query: {} },
  { id: 'daily/90d', path: '/admin/usage/daily', query: { days: '90' } },
  { id: 'daily/weekly 90d', path: '/admin/usage/daily', query: { days: '90', interval: 'weekly' } },
  { id: 'daily/user_path subtree 90d', path: '/admin/usage/daily', query: { days: '90', user_path: sample.team } },
  { id: 'daily/cache_mode=all', path: '/admin/usage/daily', query: { cache_mode: 'all' } },
  { id: 'daily/Europe/Warsaw 90d', path: '/admin/usage/daily', query: { days: '90' }, timeZone: 'Europe/Warsaw' },
  { id: 'daily/Asia/Kolkata 90d', path: '/admin/usage/daily', query: { days: '90' }, timeZone: 'Asia/Kolkata' },
];

const log: AnalyticsCase[] = [
  { id: 'log/first page', path: '/admin/usage/log', query: {} },
  { id: 'log/model filter', path: '/admin/usage/log', query: { model: sample.model }, logWithFilter: true },
  { id: 'log/user_path subtree', path: '/admin/usage/log', query: { user_path: sample.team }, logWithFilter: true },
  { id: 'log/provider, cache_mode=all', path: '/admin/usage/log', query: { provider: sample.provider, cache_mode: 'all' }, logWithFilter: true },
  { id: 'log/search', path: '/admin/usage/log', query: { search: sample.search }, logWithFilter: true },
  { id: 'log/search + user_path', path: '/admin/usage/log', query: { search: sample.search, user_path: sample.org }, logWithFilter: true },
  { id: 'log/page 21 (offset 1000)', path: '/admin/usage/log', query: { offset: '1000' } },
  { id: 'log/90d Asia/Kolkata', path: '/admin/usage/log', query: { days: '90', user_path: sample.org }, timeZone: 'Asia/Kolkata', logWithFilter: true },
];

const throughput: AnalyticsCase[] = (['second', 'minute', 'hour', 'day'] as const).map((g) => ({
  id: `throughput/${g}`,
  path: '/admin/usage/throughput',
  query: { granularity: g },
}));
throughput.push({ id: 'throughput/day Asia/Kolkata', path: '/admin/usage/throughput', query: { granularity: 'day' }, timeZone: 'Asia/Kolkata' });

const budgets: AnalyticsCase[] = [{ id: 'budgets/list', path: '/admin/budgets', query: {} }];

export const analyticsCases: AnalyticsCase[] = [...breakdowns, ...daily, ...log, ...throughput, ...budgets];

/** Budgets of the analytics gateway, on paths of the generated tree (env form, see README). */
export const budgetEnv: Record<string, string> = {
  SET_BUDGET_: 'monthly=250000',
  SET_BUDGET_ACME: 'daily=5000,monthly=100000',
  SET_BUDGET_ACME__SEARCH: 'daily=1000,weekly=5000',
  SET_BUDGET_ACME__SEARCH__RANK: 'hourly=50',
  SET_BUDGET_GLOBEX: 'weekly=20000',
  SET_BUDGET_GLOBEX__SUPPORT__CHAT: 'daily=300',
  SET_BUDGET_INITECH__GROWTH: 'monthly=8000',
  SET_BUDGET_UMBRELLA: 'daily=2000',
  SET_BUDGET_HOOLI__PLATFORM__BATCH: 'daily=100,monthly=2000',
};
