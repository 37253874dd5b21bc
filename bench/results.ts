import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AnalyticsResult } from './analytics/run.ts';
import type { Machine } from './lib/machine.ts';
import type { PhaseRecord, Results } from './record.ts';
import { renderReadme } from './readme.ts';
import { renderMarkdown } from './report.ts';

const dir = new URL('./results/', import.meta.url).pathname;
const readmeFile = new URL('./README.md', import.meta.url).pathname;
const methodFile = new URL('./method.md', import.meta.url).pathname;

/** Analytics sizes measured in separate runs (e.g. 10 M kept, 1 M afresh) make one table. */
function mergeSizes(previous: PhaseRecord<AnalyticsResult>, update: PhaseRecord<AnalyticsResult>): PhaseRecord<AnalyticsResult> {
  const measured = new Set(update.figures.sizes.map((s) => s.rows));
  const sizes = [...previous.figures.sizes.filter((s) => !measured.has(s.rows)), ...update.figures.sizes].sort((a, b) => a.rows - b.rows);
  return { ...update, figures: { sizes } };
}

/**
 * Writes bench/results/<date>.json and .md, and bench/README.md from the newest results file. A run of some phases replaces only those phases in the
 * day's file (and of analytics only the sizes it measured), so parts measured separately, each
 * when the machine was quiet, make one report.
 */
export function saveResults(update: Omit<Results, 'machine'>, machine: Machine, quick: boolean): string {
  mkdirSync(dir, { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  const base = `${dir}${date}${quick ? '-quick' : ''}`;
  const previous: Partial<Results> = existsSync(`${base}.json`) ? JSON.parse(readFileSync(`${base}.json`, 'utf8')) : {};
  const merged: Results = { ...previous, ...update, machine };
  if (update.analytics && previous.analytics) merged.analytics = mergeSizes(previous.analytics, update.analytics);
  writeFileSync(`${base}.json`, JSON.stringify(merged, null, 2) + '\n');
  writeFileSync(`${base}.md`, renderMarkdown(merged));
  writeReadme();
  return base;
}

/** The name of the newest results file of a full run in `folder` (quick runs' files left out). */
export function newestResultsFile(folder = dir): string | undefined {
  return readdirSync(folder)
    .filter((name) => /^\d{4}-\d{2}-\d{2}\.json$/.test(name))
    .sort()
    .at(-1);
}

/** bench/README.md as bench/method.md and the newest results file make it. */
export function readmeText(): string {
  const name = newestResultsFile();
  if (!name) throw new Error(`no results file in ${dir}`);
  return renderReadme(JSON.parse(readFileSync(dir + name, 'utf8')) as Results, `results/${name}`, readFileSync(methodFile, 'utf8'));
}

/** Writes bench/README.md from the newest results file; returns its path. */
export function writeReadme(): string {
  writeFileSync(readmeFile, readmeText());
  return readmeFile;
}
