import { getCacheOverview, getDailyUsage, getTokenThroughput, getUsageSummary } from '../../generated/sdk.gen.ts';
import type { UsageCacheOverview, UsageDailyUsage, UsageUsageSummary } from '../../generated/types.gen.ts';
import { call } from '../api.ts';
import { createDailyChart } from '../charts/daily.ts';
import { createThroughputChart, throughputLayers } from '../charts/throughput.ts';
import { h } from '../dom.ts';
import { formatInt, formatUnknownCosts, formatUsd } from '../format.ts';
import { segmented, select } from '../forms.ts';
import type { View } from '../router.ts';
import { errorRegion, loadInto, pageHeading, row, section, table } from './shared.ts';

type Granularity = 'second' | 'minute' | 'hour' | 'day';
type Interval = 'daily' | 'weekly' | 'monthly' | 'yearly';

// Every second at second granularity; coarser windows refresh often enough that the newest bucket
// visibly fills up rather than jumping once per hour or day.
const refreshMs: Record<Granularity, number> = { second: 1000, minute: 5000, hour: 15000, day: 60000 };
const windowName: Record<Granularity, string> = { second: 'last 60 seconds', minute: 'last 60 minutes', hour: 'last 24 hours', day: 'last 30 days' };

export const overviewView: View = {
  title: 'Overview',
  mount(root, signal) {
    const errors = errorRegion();
    root.append(pageHeading('Overview'), errors.element, liveThroughput(signal, errors), totalsAndDaily(signal, errors));
  },
};

function liveThroughput(signal: AbortSignal, errors: ReturnType<typeof errorRegion>): HTMLElement {
  let granularity: Granularity = 'second';
  let timer: ReturnType<typeof setTimeout> | undefined;
  let generation = 0;
  const plot = h('div', { class: 'chart', id: 'throughput-chart' });
  const caption = h('p', { class: 'chart-caption', id: 'throughput-totals' });
  const figure = h('figure', { 'aria-labelledby': 'throughput-totals' }, plot, h('figcaption', {}, caption));
  const panel = section(
    'Live token throughput',
    segmented('Bucket', 'granularity', [['second', 'Second'], ['minute', 'Minute'], ['hour', 'Hour'], ['day', 'Day']], granularity, (value) => {
      granularity = value as Granularity;
      refresh();
    }),
    figure,
  );
  const chart = createThroughputChart(plot);

  async function tick(mine: number): Promise<void> {
    const current = granularity;
    // A hidden tab polls nothing; the next visible tick catches up.
    if (!document.hidden) {
      await loadInto(signal, errors, async () => {
        const window = await call(getTokenThroughput({ query: { granularity: current }, signal }));
        if (mine !== generation) return;
        const totals = chart.update(window);
        caption.textContent = `Tokens over the ${windowName[current]}: ${[...throughputLayers].reverse().map((l) => `${formatInt(totals[l.key])} ${l.label.toLowerCase()}`).join(', ')}.`;
      });
    }
    if (mine === generation && !signal.aborted) timer = setTimeout(() => void tick(mine), refreshMs[current]);
  }

  function refresh(): void {
    clearTimeout(timer);
    void tick(++generation);
  }

  signal.addEventListener('abort', () => {
    clearTimeout(timer);
    generation++;
    chart.destroy();
  });
  refresh();
  return panel;
}

function totalsAndDaily(signal: AbortSignal, errors: ReturnType<typeof errorRegion>): DocumentFragment {
  let interval: Interval = 'daily';
  const days = select('days', [['1', 'Today'], ['7', 'Last 7 days'], ['30', 'Last 30 days'], ['90', 'Last 90 days'], ['365', 'Last 365 days']], '30');
  days.id = 'overview-days';
  days.addEventListener('change', () => void loadAll());
  const cards = h('div', { class: 'cards' });
  const plot = h('div', { class: 'chart', id: 'daily-chart' });
  const tableSlot = h('div');
  const empty = h('p', { class: 'empty', hidden: true }, 'No usage in this range.');
  const chart = createDailyChart(plot);
  signal.addEventListener('abort', () => chart.destroy());

  const totals = section('Totals', h('div', { class: 'toolbar' }, h('label', { for: days.id }, 'Range'), days), cards);
  const daily = section(
    'Usage by period',
    segmented('Interval', 'interval', [['daily', 'Day'], ['weekly', 'Week'], ['monthly', 'Month'], ['yearly', 'Year']], interval, (value) => {
      interval = value as Interval;
      void loadDaily();
    }),
    empty,
    plot,
    h('details', {}, h('summary', {}, 'Show as a table'), tableSlot),
  );

  async function loadSummary(): Promise<void> {
    const summary = await call(getUsageSummary({ query: { days: Number(days.value) }, signal }));
    cards.replaceChildren(...summaryCards(summary));
  }

  async function loadDaily(): Promise<void> {
    await loadInto(signal, errors, async () => {
      const rows = await call(getDailyUsage({ query: { days: Number(days.value), interval }, signal }));
      empty.hidden = rows.length > 0;
      chart.update(rows);
      tableSlot.replaceChildren(dailyTable(rows));
    });
  }

  const savings = h('div', { class: 'cards', id: 'cache-savings' });
  const loadSavings = async () => savings.replaceChildren(...cacheCards(await call(getCacheOverview({ query: { days: Number(days.value) }, signal }))));

  async function loadAll(): Promise<void> {
    await Promise.all([loadInto(signal, errors, loadSummary), loadDaily(), loadInto(signal, errors, loadSavings)]);
  }

  void loadAll();
  const fragment = document.createDocumentFragment();
  fragment.append(totals, section('Response cache savings', savings), daily);
  return fragment;
}

function summaryCards(s: UsageUsageSummary): HTMLElement[] {
  const card = (label: string, value: string, detail?: string) =>
    h('div', { class: 'card' }, h('p', { class: 'card-label' }, label), h('p', { class: 'card-value' }, value), detail ? h('p', { class: 'card-detail' }, detail) : null);
  return [
    card('Requests', formatInt(s.total_requests)),
    card('Input tokens', formatInt(s.total_input_tokens), `${formatInt(s.uncached_input_tokens)} uncached · ${formatInt(s.cached_input_tokens)} cached · ${formatInt(s.cache_write_input_tokens)} cache write`),
    card('Output tokens', formatInt(s.total_output_tokens)),
    card('Total tokens', formatInt(s.total_tokens)),
    card('Cost', formatUsd(s.total_cost), costDetail(s)),
  ];
}

/** Under the total cost: the requests it leaves out for want of a price, then its split. */
function costDetail(s: UsageUsageSummary): string {
  const unknown = formatUnknownCosts(s.unknown_cost_requests);
  if (s.total_cost === null || s.total_cost === undefined) return unknown ? `${unknown}: no request in this range had a known price.` : 'No request in this range had a known price.';
  return `${unknown ? `+ ${unknown} · ` : ''}${formatUsd(s.total_input_cost)} input · ${formatUsd(s.total_output_cost)} output`;
}

function dailyTable(rows: UsageDailyUsage[]): HTMLElement {
  return table(
    'Usage by period',
    [{ label: 'Period' }, { label: 'Requests', numeric: true }, { label: 'Input tokens', numeric: true }, { label: 'Output tokens', numeric: true }, { label: 'Cost', numeric: true }],
    rows.map((r) => row([r.date ?? '', formatInt(r.requests), formatInt(r.input_tokens), formatInt(r.output_tokens), formatUsd(r.total_cost)], 1)),
  );
}

/** What the exact response cache answered in the range instead of a provider, and what that saved. */
function cacheCards(o: UsageCacheOverview): HTMLElement[] {
  const card = (label: string, value: string, detail?: string) =>
    h('div', { class: 'card' }, h('p', { class: 'card-label' }, label), h('p', { class: 'card-value' }, value), detail ? h('p', { class: 'card-detail' }, detail) : null);
  const s = o.summary;
  const c = o.cache;
  const state = c.enabled ? `${formatInt(c.entries)} entries cached now` : 'The cache is off (CACHE_ENABLED).';
  return [
    card('Cache hits', formatInt(s.total_hits), state),
    card('Tokens saved', formatInt(s.total_tokens), `${formatInt(s.total_input_tokens)} input · ${formatInt(s.total_output_tokens)} output`),
    card('Cost saved', formatUsd(s.total_saved_cost), s.unpriced_hits ? `${formatInt(s.unpriced_hits)} hits of unknown price not included` : undefined),
  ];
}
