import type uPlot from 'uplot';
import type { AuditlogRequestStats } from '../../generated/types.gen.ts';
import { formatInt } from '../format.ts';
import { createChart, stackedBars, themedAxes } from './chart.ts';

const HEIGHT = 200;
/** Status classes, bottom of the stack first, in colours that read on light and dark backgrounds. */
const classes = [
  ['status_2xx', '2xx', '#22c55e'],
  ['status_4xx', '4xx', '#f59e0b'],
  ['status_5xx', '5xx', '#ef4444'],
  ['status_other', 'Other', '#a3a3a3'],
] as const;
const providerColors = ['#3b82f6', '#a855f7', '#14b8a6', '#f97316', '#ec4899', '#84cc16'];

const bucketLabel = (iso: string, interval: string) => {
  const d = new Date(iso);
  return interval === 'hour' ? d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' }) : d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
};

/** Requests per bucket by status class, stacked; updated in place. */
export function createStatusChart(container: HTMLElement): { update(stats: AuditlogRequestStats): void; destroy(): void } {
  let labels: string[] = [];
  let counts: number[][] = classes.map(() => []);
  const { chart, destroy } = createChart(
    container,
    {
      height: HEIGHT,
      scales: { x: { time: false, range: (_u, min, max) => [min - 0.5, max + 0.5] }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.05)] } },
      series: [
        { label: 'Bucket', value: (_u: uPlot, v: number | null) => (v === null ? '' : (labels[v] ?? '')) },
        // Drawn tallest first: each series is the cumulative count up to its class.
        ...[...classes].reverse().map(([, label, color], r) => ({
          label,
          stroke: color,
          fill: color,
          width: 0,
          paths: stackedBars,
          points: { show: false },
          value: (_u: uPlot, _v: number | null, _s: number, i: number | null) => (i === null ? '' : formatInt(counts[classes.length - 1 - r]![i])),
        })),
      ],
      axes: themedAxes({ space: 64, values: (_u, splits) => splits.map((i) => labels[i] ?? '') }),
      cursor: { drag: { x: false, y: false }, points: { show: false } },
    },
    [[], [], [], [], []],
  );
  return {
    update(stats) {
      const buckets = stats.buckets ?? [];
      labels = buckets.map((b) => bucketLabel(b.start ?? '', stats.interval ?? 'hour'));
      counts = classes.map(([key]) => buckets.map((b) => b[key] ?? 0));
      const cumulative = classes.map((_, c) => buckets.map((_b, i) => counts.slice(0, c + 1).reduce((n, s) => n + s[i]!, 0)));
      chart.setData([buckets.map((_, i) => i), ...cumulative.reverse()]);
    },
    destroy,
  };
}

/** The median and 95th percentile duration (ms) of each provider's successful requests per bucket; one chart per set of providers. */
export function createLatencyChart(container: HTMLElement, stats: AuditlogRequestStats): { destroy(): void } {
  const buckets = stats.buckets ?? [];
  const labels = buckets.map((b) => bucketLabel(b.start ?? '', stats.interval ?? 'hour'));
  const providers = stats.provider_latency ?? [];
  const series: uPlot.Series[] = [{ label: 'Bucket', value: (_u: uPlot, v: number | null) => (v === null ? '' : (labels[v] ?? '')) }];
  const data: (number | null)[][] = [];
  providers.forEach((p, i) => {
    const color = providerColors[i % providerColors.length]!;
    series.push({ label: `${p.provider} p50 ms`, stroke: color, width: 2, spanGaps: true }, { label: `${p.provider} p95 ms`, stroke: color, width: 1, dash: [4, 4], spanGaps: true });
    data.push(p.p50_ms ?? [], p.p95_ms ?? []);
  });
  const { destroy } = createChart(
    container,
    {
      height: HEIGHT,
      scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      series,
      axes: themedAxes({ space: 64, values: (_u, splits) => splits.map((i) => labels[i] ?? '') }),
      cursor: { drag: { x: false, y: false } },
    },
    [buckets.map((_, i) => i), ...data] as uPlot.AlignedData,
  );
  return { destroy };
}
