/**
 * The benchmark harness (issue 5): proxy overhead, analytics at scale and usage ingest, each
 * against local servers only. `npm run bench -- --help` lists the flags.
 */
import { execFileSync } from 'node:child_process';
import { runAnalytics } from './analytics/run.ts';
import { runIngest } from './ingest/run.ts';
import { describeMachine } from './lib/machine.ts';
import { loadAverage } from './lib/proc-stats.ts';
import { readOptions, stageIds } from './options.ts';
import { runCache } from './proxy/cache.ts';
import { runFailover } from './proxy/failover.ts';
import { runProxy } from './proxy/run.ts';
import type { PhaseRecord, Results } from './record.ts';
import { saveResults } from './results.ts';

const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

async function phase<T>(name: string, quick: boolean, body: () => Promise<T>): Promise<PhaseRecord<T>> {
  const before = loadAverage();
  log(`${name}: starting (load average ${before.join(' ')})`);
  const figures = await body();
  const after = loadAverage();
  return {
    measuredAt: new Date().toISOString(),
    commit: machine.commit,
    cpu: machine.cpu,
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    quick,
    loadAverage: { before, after },
    figures,
  };
}

const opts = readOptions(process.argv.slice(2));
const machine = await describeMachine();
log(`${machine.cores} cores, Node ${machine.node}, PostgreSQL ${machine.postgres}, wrk ${machine.wrk}, commit ${machine.commit}`);

// The gateway runs from its compiled build, as `npm start` runs it.
if (opts.phases.includes('proxy') || opts.phases.includes('analytics')) {
  execFileSync('npm', ['run', '-s', 'build:server'], { cwd: new URL('..', import.meta.url).pathname, stdio: 'inherit' });
}

const update: Omit<Results, 'machine'> = {};
const stageOnly = opts.proxy.only.length > 0 && opts.proxy.only.every((t) => stageIds.includes(t));
if (opts.phases.includes('proxy') && !stageOnly) update.proxy = await phase('proxy', opts.quick, () => runProxy(opts.proxy, log));
if (opts.phases.includes('proxy') && (opts.proxy.only.length === 0 || opts.proxy.only.includes('gomodel-failover'))) {
  update.failover = await phase('failover', opts.quick, () => runFailover(opts.quick, log));
}
if (opts.phases.includes('proxy') && (opts.proxy.only.length === 0 || opts.proxy.only.includes('gomodel-cache'))) {
  update.cache = await phase('cache', opts.quick, () => runCache(opts.quick, log));
}
if (opts.phases.includes('ingest')) update.ingest = await phase('ingest', opts.quick, () => runIngest(opts.ingest, log));
if (opts.phases.includes('analytics')) update.analytics = await phase('analytics', opts.quick, () => runAnalytics(opts.analytics, log));

const base = saveResults(update, machine, opts.quick);
log(`results: ${base}.json and ${base}.md; bench/README.md from the newest results file`);
