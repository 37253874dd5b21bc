import type uPlot from 'uplot';
import type { UsageDailyUsage } from '../../generated/types.gen.ts';
import { formatInt } from '../format.ts';
import { createChart, seriesColors, stackedBars, themedAxes } from './chart.ts';

const HEIGHT = 220;

/** Input and output tokens per day, week, month or year, stacked; updated in place. */
export function createDailyChart(container: HTMLElement): { update(rows: UsageDailyUsage[]): void; destroy(): void } {
  let labels: string[] = [];
  let input: number[] = [];
  let output: number[] = [];

  const { chart, destroy } = createChart(
    container,
    {
      height: HEIGHT,
      scales: {
        x: { time: false, range: (_u, min, max) => [min - 0.5, max + 0.5] },
        y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.05)] },
      },
      series: [
        { label: 'Period', value: (_u: uPlot, v: number | null) => (v === null ? '' : (labels[v] ?? '')) },
        { label: 'Output', stroke: seriesColors.output, fill: seriesColors.output, width: 0, paths: stackedBars, points: { show: false }, value: (_u, _v, _s, i) => (i === null ? '' : formatInt(output[i])) },
        { label: 'Input', stroke: seriesColors.input, fill: seriesColors.input, width: 0, paths: stackedBars, points: { show: false }, value: (_u, _v, _s, i) => (i === null ? '' : formatInt(input[i])) },
      ],
      axes: themedAxes({ space: 72, incrs: [1, 2, 3, 5, 7, 10, 14, 30, 60, 90, 180, 365], values: (_u, splits) => splits.map((i) => labels[i] ?? '') }),
      cursor: { drag: { x: false, y: false }, points: { show: false } },
    },
    [[], [], []],
  );

  return {
    update(rows) {
      labels = rows.map((r) => r.date ?? '');
      input = rows.map((r) => r.input_tokens ?? 0);
      output = rows.map((r) => r.output_tokens ?? 0);
      chart.setData([rows.map((_, i) => i), output.map((o, i) => o + input[i]!), input]);
    },
    destroy,
  };
}
