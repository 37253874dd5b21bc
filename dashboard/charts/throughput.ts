import type uPlot from 'uplot';
import type { UsageThroughputBucket, UsageTokenThroughput } from '../../generated/types.gen.ts';
import { formatBucketStart, formatInt } from '../format.ts';
import { createChart, seriesColors, stackedBars, themedAxes } from './chart.ts';

type TokenKey = Exclude<keyof UsageThroughputBucket, 'start'>;

/** The stack, top layer first: each is drawn over the ones before it. */
export const throughputLayers: { key: TokenKey; label: string; color: string }[] = [
  { key: 'locally_cached_tokens', label: 'Locally cached', color: seriesColors.locallyCached },
  { key: 'output_tokens', label: 'Output', color: seriesColors.output },
  { key: 'prompt_cached_tokens', label: 'Prompt cached', color: seriesColors.promptCached },
  { key: 'input_tokens', label: 'Input', color: seriesColors.input },
];

const HEIGHT = 240;

export interface ThroughputChart {
  /** Draws a new window in place and returns the tokens of each layer over it. */
  update(window: UsageTokenThroughput): Record<TokenKey, number>;
  destroy(): void;
}

/**
 * The live token-throughput chart. Its arrays are allocated once per window length and refilled on
 * every refresh, so a chart that refreshes every second neither flickers nor grows.
 */
export function createThroughputChart(container: HTMLElement): ThroughputChart {
  let bucketSeconds = 1;
  let xs: number[] = [];
  let stacks: number[][] = throughputLayers.map(() => []);
  let raw: number[][] = throughputLayers.map(() => []);
  let data: uPlot.AlignedData = [xs, ...stacks];

  const { chart, destroy } = createChart(
    container,
    {
      height: HEIGHT,
      scales: {
        x: { time: true, range: (_u, min, max) => [min - bucketSeconds / 2, max + bucketSeconds / 2] },
        y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.05)] },
      },
      series: [
        { label: 'Bucket', value: (_u: uPlot, v: number | null) => (v === null ? '' : formatBucketStart(v, bucketSeconds)) },
        ...throughputLayers.map((layer, i) => ({
          label: layer.label,
          stroke: layer.color,
          fill: layer.color,
          width: 0,
          paths: stackedBars,
          points: { show: false },
          value: (_u: uPlot, _v: number, _s: number, idx: number | null) => (idx === null ? '' : formatInt(raw[i]![idx])),
        })),
      ],
      axes: themedAxes({ space: 64, values: (_u, splits) => splits.map((s) => formatBucketStart(s, bucketSeconds)) }),
      cursor: { drag: { x: false, y: false }, points: { show: false } },
    },
    data,
  );

  return {
    update(window) {
      const buckets = window.buckets ?? [];
      bucketSeconds = window.bucket_seconds ?? 1;
      if (xs.length !== buckets.length) {
        xs = new Array<number>(buckets.length);
        stacks = throughputLayers.map(() => new Array<number>(buckets.length));
        raw = throughputLayers.map(() => new Array<number>(buckets.length));
        data = [xs, ...stacks];
      }
      const totals = Object.fromEntries(throughputLayers.map((l) => [l.key, 0])) as Record<TokenKey, number>;
      buckets.forEach((bucket, j) => {
        xs[j] = Date.parse(bucket.start ?? '') / 1000;
        let sum = 0;
        for (let i = throughputLayers.length - 1; i >= 0; i--) {
          const { key } = throughputLayers[i]!;
          const tokens = bucket[key] ?? 0;
          raw[i]![j] = tokens;
          stacks[i]![j] = sum += tokens;
          totals[key] += tokens;
        }
      });
      chart.setData(data);
      return totals;
    },
    destroy,
  };
}
