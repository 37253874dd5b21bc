import uPlot from 'uplot';
import { formatCompact } from '../format.ts';

/** Series colours, chosen to read on both the light and the dark background. */
export const seriesColors = {
  input: '#3b82f6',
  promptCached: '#14b8a6',
  output: '#f59e0b',
  locallyCached: '#a855f7',
};

const dark = matchMedia('(prefers-color-scheme: dark)');
let ink = { text: '', grid: '' };
const readInk = () => {
  const style = getComputedStyle(document.documentElement);
  ink = { text: style.getPropertyValue('--muted').trim(), grid: style.getPropertyValue('--grid').trim() };
};
readInk();
dark.addEventListener('change', readInk);

/** An x axis and a compact-number y axis whose colours follow the page's scheme at every draw. */
export function themedAxes(x: Partial<uPlot.Axis>): uPlot.Axis[] {
  const common = { stroke: () => ink.text, grid: { stroke: () => ink.grid, width: 1 }, ticks: { show: false } };
  return [
    { ...common, ...x },
    { ...common, size: 52, values: (_u: uPlot, splits: number[]) => splits.map(formatCompact) },
  ];
}

/** Bars drawn over each other, tallest first, which shows cumulative series as a stack. */
export const stackedBars = uPlot.paths.bars!({ size: [0.8, Infinity], gap: 1 });

/**
 * A uPlot chart that stays as wide as its container and redraws when the colour scheme changes.
 * Callers update it with `chart.setData`, never by creating another.
 */
export function createChart(container: HTMLElement, opts: Omit<uPlot.Options, 'width'>, data: uPlot.AlignedData): { chart: uPlot; destroy(): void } {
  const chart = new uPlot({ ...opts, width: Math.max(container.clientWidth, 280) }, data, container);
  const observer = new ResizeObserver(() => {
    const width = Math.floor(container.clientWidth);
    if (width > 0 && width !== chart.width) chart.setSize({ width, height: opts.height });
  });
  observer.observe(container);
  const redraw = () => chart.redraw(false);
  dark.addEventListener('change', redraw);
  return {
    chart,
    destroy() {
      observer.disconnect();
      dark.removeEventListener('change', redraw);
      chart.destroy();
    },
  };
}
