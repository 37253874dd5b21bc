import type { AnalyticsResult } from './analytics/run.ts';
import { analyticsCases } from './analytics/cases.ts';
import type { IngestResult } from './ingest/run.ts';
import type { CacheResult } from './proxy/cache.ts';
import type { FailoverResult } from './proxy/failover.ts';
import type { TargetResult } from './proxy/run.ts';
import type { PhaseRecord, Results } from './record.ts';
import { percentile } from './lib/stats.ts';

const f = (n: number | undefined, d = 2) => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(d));
const int = (n: number) => Math.round(n).toLocaleString('en');
const mark = (ok: boolean) => (ok ? 'pass' : '**miss**');

function conditions(p: PhaseRecord<unknown>): string {
  return `Measured ${p.measuredAt.replace('T', ' ').slice(0, 16)} UTC at commit ${p.commit}${p.cpu ? ` on ${p.cpu}` : ''}${p.quick ? ' (quick run: short, indicative only)' : ''}; load average ${p.loadAverage.before.join(' ')} before, ${p.loadAverage.after.join(' ')} after. Command: \`${p.command}\`.`;
}

export interface Check {
  target: string;
  measured: string;
  ok: boolean;
}

const peak = (r: TargetResult) => Math.max(r.c16.rps, r.c128.rps);
const roundPeak = (x: { c16Rps: number; c128Rps: number }) => Math.max(x.c16Rps, x.c128Rps);

/**
 * A target's peak throughput over another's, round by round: the targets of a round are measured
 * seconds apart, where each one's median round may come from a different minute of the machine
 * (the 15:07 run of 2026-12-02 put the gateway's median round at 2,904 req/s and the bare proxy's
 * at 8,597: 34%, with rounds of 38-67%). Null without rounds to pair.
 */
function roundRatios(a: TargetResult, b: TargetResult): number[] | null {
  if (!a.rounds?.length || a.rounds.length !== b.rounds?.length) return null;
  return a.rounds.map((x, i) => roundPeak(x) / roundPeak(b.rounds![i]!));
}

/** The median of the round-by-round ratios, or the ratio of the two targets' peaks without rounds. */
const ratio = (a: TargetResult, b: TargetResult) => {
  const rs = roundRatios(a, b);
  return rs ? percentile(rs, 50) : peak(a) / peak(b);
};

type RuntimeName = NonNullable<TargetResult['runtime']>;

/** The runtimes the gateway targets ran under, in order; one unnamed for results that record none. */
function runtimesOf(rows: TargetResult[]): (RuntimeName | undefined)[] {
  const seen = new Map(rows.flatMap((r) => (r.runtime ? [[r.runtime.id, r.runtime] as const] : [])));
  return seen.size ? [...seen.values()] : [undefined];
}

/** One runtime's run: the targets gomodel-ts is measured against and the gateway targets under it. */
const underRuntime = (rows: TargetResult[], runtime: RuntimeName | undefined) => rows.filter((r) => !r.runtime || r.runtime.id === runtime?.id);

/** A column of a check table: the checks of one run, or of one runtime's part of a run. */
export interface CheckColumn {
  name: string;
  checks: Check[];
}

/**
 * Targets with what was measured and pass or miss: one column as `| target | measured | |`,
 * several (one a runtime) side by side, each cell the measured figure and its verdict.
 */
export function checkTable(title: string, columns: CheckColumn[]): string[] {
  if (columns.length === 1) return [`| ${title} | measured | |`, '| --- | --- | --- |', ...columns[0]!.checks.map((c) => `| ${c.target} | ${c.measured} | ${mark(c.ok)} |`), ''];
  const targets = [...new Set(columns.flatMap((col) => col.checks.map((c) => c.target)))];
  const cell = (c: Check | undefined) => (c ? `${c.measured} (${mark(c.ok)})` : '–');
  return [
    `| ${title} | ${columns.map((col) => col.name).join(' | ')} |`,
    `| --- | ${columns.map(() => '---').join(' | ')} |`,
    ...targets.map((t) => `| ${t} | ${columns.map((col) => cell(col.checks.find((c) => c.target === t))).join(' | ')} |`),
    '',
  ];
}

/** The proxy checks of each runtime the gateway ran under. */
export const proxyCheckColumns = (rows: TargetResult[]): CheckColumn[] =>
  runtimesOf(rows)
    .map((runtime) => ({ name: runtime?.name ?? 'measured', checks: proxyChecks(underRuntime(rows, runtime)) }))
    .filter((col) => col.checks.length > 0);

/** The proxy targets of issue 5, evaluated on one run's figures; throughput ratios are medians of the rounds' ratios. */
export function proxyChecks(results: TargetResult[]): Check[] {
  const by = (id: string) => results.find((r) => r.id === id);
  const direct = by('direct');
  const bare = by('bare');
  const gw = by('gomodel');
  const cluster = by('gomodel-cluster');
  const portkey = by('portkey');
  if (!gw) return [];
  const checks: Check[] = [];
  const share = (target: string, of: TargetResult) => {
    const x = ratio(of, bare!);
    checks.push({ target, measured: `${f(100 * x, 0)}%`, ok: x >= 0.6 });
  };
  if (bare) share('peak throughput ≥ 60% of the bare proxy', gw);
  if (bare && cluster) share('the same, 2 workers (cluster)', cluster);
  if (portkey) {
    const x = ratio(gw, portkey);
    checks.push({ target: 'peak throughput ≥ 4× Portkey', measured: `${f(x, 1)}×`, ok: x >= 4 });
  }
  if (direct) {
    const p50 = gw.c1.p50Ms - direct.c1.p50Ms;
    const p99 = gw.c1.p99Ms - direct.c1.p99Ms;
    const ttft = gw.stream.ttftP50Ms - direct.stream.ttftP50Ms;
    // Results before 2026-12-02 21:25 UTC timed c=1 with the database running and have no second figure.
    const shared = (of: (l: TargetResult['c1']) => number) =>
      gw.c1SharedDb ? ` (its database paused during the runs; with its INSERTs on the same cores ${f(of(gw.c1SharedDb) - of(direct.c1), 3)} ms)` : '';
    checks.push({ target: 'added latency p50 ≤ 0.4 ms (c=1)', measured: `${f(p50, 3)} ms${shared((l) => l.p50Ms)}`, ok: p50 <= 0.4 });
    checks.push({ target: 'added latency p99 ≤ 2 ms (c=1)', measured: `${f(p99, 3)} ms${shared((l) => l.p99Ms)}`, ok: p99 <= 2 });
    checks.push({ target: 'added time to first token ≤ 1 ms', measured: `${f(ttft, 3)} ms`, ok: ttft <= 1 });
    const spread = gw.slowStream.spreadP50Ms / direct.slowStream.spreadP50Ms;
    checks.push({ target: 'no buffering (20 ms stream spread ≥ 80% of direct)', measured: `${f(100 * spread, 0)}%`, ok: spread >= 0.8 });
  }
  checks.push({ target: 'peak RSS ≤ 100 MB under load', measured: `${f(gw.peakRssMb, 0)} MB`, ok: gw.peakRssMb <= 100 });
  if (gw.recording) checks.push({ target: 'every answered request recorded', measured: `${int(gw.recording.rows)} rows / ${int(gw.recording.requests)} requests`, ok: gw.recording.rows >= gw.recording.requests });
  return checks;
}

/** The main proxy table: every target's figures, `added` over direct to the mock. */
export function proxyTable(rows: TargetResult[]): string[] {
  const direct = rows.find((r) => r.id === 'direct');
  const added = (a: number, b: number | undefined) => (direct && b !== undefined ? f(a - b, 3) : '–');
  return [
    '| target | c=1 p50 ms | c=1 p99 ms | added p50 | added p99 | c=16 req/s | c=128 req/s | c=128 20 ms model req/s | TTFT p50 ms | added TTFT | stream total p50 ms | 20 ms stream spread ms | RSS idle / peak MB | CPU ms/req | PostgreSQL CPU ms/req |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) =>
      [
        r.label,
        f(r.c1.p50Ms, 3),
        f(r.c1.p99Ms, 3),
        r.id === 'direct' ? '' : added(r.c1.p50Ms, direct?.c1.p50Ms),
        r.id === 'direct' ? '' : added(r.c1.p99Ms, direct?.c1.p99Ms),
        int(r.c16.rps),
        int(r.c128.rps),
        int(r.c128Slow.rps),
        f(r.stream.ttftP50Ms),
        r.id === 'direct' ? '' : added(r.stream.ttftP50Ms, direct?.stream.ttftP50Ms),
        f(r.stream.totalP50Ms),
        f(r.slowStream.spreadP50Ms),
        `${f(r.idleRssMb, 0)} / ${f(r.peakRssMb, 0)}`,
        f(r.c16.cpuMsPerRequest, 3),
        f(r.c16.postgresCpuMsPerRequest, 3),
      ].join(' | ').replace(/^/, '| ').concat(' |'),
    ),
    '',
    ...databaseRunningNote(rows),
  ];
}

/** Targets whose paused-database c=1 could not be timed, and why. */
function databaseRunningNote(rows: TargetResult[]): string[] {
  const running = rows.filter((r) => r.c1DatabaseRunning).map((r) => r.label);
  if (!running.length) return [];
  return [
    `c=1 of ${running.join('; ')} ran with its database running: a rate-limit lease starts at one request after a second idle and is topped up in the database, doubling, as traffic lasts, a round trip a paused database would hold for the whole run.`,
    '',
  ];
}

/**
 * Streams of each client API through each gateway, beside the provider stream the gateway makes
 * for it sent direct to the mock: what relaying or translating adds to the first token, and
 * streams a second at c=16 as a share of direct's.
 */
export function apiStreamTable(rows: TargetResult[]): string[] {
  const direct = rows.find((r) => r.id === 'direct')?.apiStreams;
  const gateways = rows.filter((r) => r.id !== 'direct' && r.apiStreams?.length);
  if (!gateways.length) return [];
  return [
    'Streams of each client API (direct: the request the gateway makes of the provider for it, sent to the mock):',
    '',
    '| target | API | TTFT p50 ms | added TTFT ms | stream total p50 ms | streams/s at c=16 | % of direct |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...gateways.flatMap((r) =>
      r.apiStreams!.map((a) => {
        const d = direct?.find((x) => x.id === a.id);
        return `| ${r.label} | ${a.label} | ${f(a.stream.ttftP50Ms)} | ${d ? f(a.stream.ttftP50Ms - d.stream.ttftP50Ms, 3) : '–'} | ${f(a.stream.totalP50Ms)} | ${int(a.streamsPerSecond)} | ${d ? `${f((100 * a.streamsPerSecond) / d.streamsPerSecond, 0)}%` : '–'} |`;
      }),
    ),
    '',
  ];
}

/** The gateways' c=1 with their database's backends running; `added` over direct's paused runs. */
export function sharedDbTable(rows: TargetResult[]): string[] {
  const sharedDb = rows.filter((r) => r.c1SharedDb);
  const direct = rows.find((r) => r.id === 'direct');
  if (!sharedDb.length) return [];
  const added = (a: number, b: number | undefined) => (direct && b !== undefined ? f(a - b, 3) : '–');
  return [
    "c=1 of the gateways timed again with their database's backends running, its INSERTs on the same two cores (each run right after the paused one):",
    '',
    '| target | c=1 p50 ms | c=1 p99 ms | added p50 | added p99 |',
    '| --- | --- | --- | --- | --- |',
    ...sharedDb.map((r) => `| ${r.label} | ${f(r.c1SharedDb!.p50Ms, 3)} | ${f(r.c1SharedDb!.p99Ms, 3)} | ${added(r.c1SharedDb!.p50Ms, direct?.c1.p50Ms)} | ${added(r.c1SharedDb!.p99Ms, direct?.c1.p99Ms)} |`),
    '',
  ];
}

/**
 * Each gateway target under each runtime, one after another: its peak throughput as a share of
 * the bare proxy's (under the bench's Node, the same yardstick for all), what it adds to c=1
 * and to the first token, and its memory. Empty for a run under one runtime.
 */
export function runtimeTable(rows: TargetResult[]): string[] {
  if (runtimesOf(rows).length < 2) return [];
  const direct = rows.find((r) => r.id === 'direct');
  const bare = rows.find((r) => r.id === 'bare');
  const added = (a: number, b: number | undefined) => (b === undefined ? '–' : f(a - b, 3));
  return [
    'The gateway under each runtime (the targets it is measured against under the bench\'s Node):',
    '',
    '| target | peak throughput, % of the bare proxy | c=16 req/s | added c=1 p50 / p99 ms | added TTFT ms | RSS idle / peak MB |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows
      .filter((r) => r.runtime)
      .map((r) =>
        [
          r.label,
          bare ? `${f(100 * ratio(r, bare), 0)}%` : '–',
          int(r.c16.rps),
          `${added(r.c1.p50Ms, direct?.c1.p50Ms)} / ${added(r.c1.p99Ms, direct?.c1.p99Ms)}`,
          added(r.stream.ttftP50Ms, direct?.stream.ttftP50Ms),
          `${f(r.idleRssMb, 0)} / ${f(r.peakRssMb, 0)}`,
        ].join(' | ').replace(/^/, '| ').concat(' |'),
      ),
    '',
  ];
}

/** Loads that had errors: the runs that are not valid. */
export function loadErrors(rows: TargetResult[]): string[] {
  const errors = rows.flatMap((r) =>
    [r.c1, r.c16, r.c128, r.c128Slow]
      // wrk times to the microsecond: a median of 0 is of runs that answered nothing.
      .filter((l) => l.errors > 0 || l.requests === 0 || l.p50Ms === 0)
      .map((l) => `${r.label} c=${l.connections} ${l.model}: ${l.errors > 0 ? `${l.errors} errors` : 'most runs answered nothing'}`)
      .concat([r.stream, r.slowStream].filter((s) => (s.errors ?? 0) > 0).map((s) => `${r.label} streams ${s.model}: ${s.errors} failed`)),
  );
  return errors.length ? [`Errors during load (those runs are not valid): ${errors.join('; ')}.`, ''] : [];
}

function roundLists(rows: TargetResult[]): string[] {
  const spread = rows.filter((r) => (r.rounds?.length ?? 0) > 1);
  if (!spread.length) return [];
  const lines = [
    'Throughput rounds (c=16 req/s; c=128 req/s):',
    '',
    ...spread.map((r) => `- ${r.label}: ${r.rounds!.map((x) => `${int(x.c16Rps)}; ${int(x.c128Rps)}`).join(' · ')}`),
    '',
  ];
  const bare = rows.find((r) => r.id === 'bare');
  const paired = bare ? rows.filter((r) => r.id.startsWith('gomodel') && roundRatios(r, bare)) : [];
  if (bare && paired.length) {
    lines.push(
      'Peak throughput against the bare proxy in the same round (round by round; median, the figure the target is checked on):',
      '',
      ...paired.map((r) => {
        const rs = roundRatios(r, bare)!;
        return `- ${r.label}: ${rs.map((x) => `${f(100 * x, 0)}%`).join(' · ')}; median ${f(100 * percentile(rs, 50), 0)}%`;
      }),
      '',
    );
  }
  return lines;
}

function proxySection(p: PhaseRecord<TargetResult[]>): string {
  const rows = p.figures;
  const direct = rows.find((r) => r.id === 'direct');
  const placed = rows.find((r) => r.id !== 'direct' && r.throughputCpus && r.throughputCpus !== 'all');
  const placement = placed
    ? ` The targets ran on CPU ${placed.throughputCpus} (a target of several processes, the 2-worker gateway, on every CPU), and wrk, the mock upstream and the gateway's PostgreSQL backends (at nice 19) on CPU ${direct?.throughputCpus ?? 'the rest'}.`
    : '';
  const checks = proxyCheckColumns(rows);
  return [
    '## Proxy',
    '',
    conditions(p),
    '',
    'Chat completions of ~4.5 KB (JSON replies ~1.2 KB; streams of 23 events) over loopback; wrk with one thread, closed loop. Every target is up from start to end. Throughput (c=16, c=128) is measured one target at a time, the others idle, in rounds: each round loads every target in turn (a short untimed load at c=16, then c=16, c=128 and c=128 of the 20 ms model), and each target shows its median round (by c=16 rate; peak RSS is the largest of all rounds), after a warm-up at c=16; a throughput target is checked on the median of the ratios of its rounds.' + placement + ' CPU per request (at c=16) is the target\'s own processes (not the mock\'s), PostgreSQL CPU every postgres process on the machine. Latency (c=1, streams) is measured next, on any CPU, in turn: one-second c=1 runs, each percentile the median of the runs\', each run started once the database is idle and run with its backends paused (SIGSTOP), as a database on another machine would be (the gateway still builds, queues and sends its rows; they are written after the run), and streams in blocks of ten to each target in turn (the first of a block untimed), so a busy moment of the machine lands on all targets. `added` is over direct to the mock.',
    '',
    ...proxyTable(rows),
    ...apiStreamTable(rows),
    ...sharedDbTable(rows),
    ...runtimeTable(rows),
    ...(checks.length ? checkTable('gomodel-ts target', checks) : []),
    ...roundLists(rows),
    ...loadErrors(rows),
  ].join('\n');
}

/** The ingest targets: the sustained rate, and nothing lost while the database is held up. */
export function ingestChecks({ sustained: s, slowDatabase: d }: IngestResult): Check[] {
  return [
    { target: 'sustained rows/s written by the recorder ≥ 20,000', measured: int(s.rowsPerSecond), ok: s.rowsPerSecond >= 20_000 },
    {
      target: 'every row recorded while the database is held up ends in the table and the rollups',
      measured: `${int(d.rowsInTable)} of ${int(d.recorded)} rows, ${int(d.requestsInRollups)} in rollups`,
      ok: d.rowsInTable === d.recorded && d.requestsInRollups === d.recorded,
    },
  ];
}

export function ingestTable(figures: IngestResult): string[] {
  const { sustained: s, slowDatabase: d } = figures;
  const [rate, kept] = ingestChecks(figures);
  return [
    `| figure | value |`,
    '| --- | --- |',
    `| sustained rows/s written by the recorder (target ≥ 20,000) | ${rate!.measured} (${mark(rate!.ok)}) |`,
    `| rows, seconds, most rows per INSERT | ${int(s.rows)}, ${f(s.seconds, 1)} s, ${s.maxBatch} |`,
    `| held-up database: offered rows/s, USAGE_BUFFER_SIZE | ${int(d.offeredRowsPerSecond)}, ${d.bufferSize} |`,
    `| held up from / for | ${f(d.blockedFromSeconds, 1)} s / ${f(d.blockedForSeconds, 1)} s |`,
    `| recorded = written + replayed (lost) | ${int(d.recorded)} = ${int(d.written)} + ${int(d.replayed)} (${d.lost}) |`,
    `| spilled to disk, largest queue | ${int(d.spilled)}, ${int(d.maxQueued)} |`,
    `| every recorded row in the table and the rollups | ${kept!.measured}; ${d.spillFilesLeft} spill files left (${mark(kept!.ok)}) |`,
    `| caught up after the hold-up ended | ${f(d.caughtUpAfterSeconds, 1)} s |`,
    '',
  ];
}

function ingestSection(p: PhaseRecord<IngestResult>): string {
  return ['## Ingest', '', conditions(p), '', ...ingestTable(p.figures)].join('\n');
}

/** Each case's figures at every size, its p95 growth from the first size to the last, and its verdicts. */
function caseVerdicts(sizes: AnalyticsResult['sizes']) {
  return analyticsCases.flatMap((c) => {
    const figs = sizes.map((s) => s.cases.find((x) => x.id === c.id));
    const first = figs[0];
    const last = figs.at(-1);
    if (!first || !last) return [];
    const growth = sizes.length > 1 ? last.p95Ms / first.p95Ms : NaN;
    const limit = c.logWithFilter ? 100 : 50;
    const withinLimit = last.p95Ms <= limit;
    const withinGrowth = sizes.length < 2 || growth <= 1.5 || last.p95Ms <= 5;
    return [{ c, figs, last, growth, withinLimit, withinGrowth }];
  });
}

/** The analytics targets at the largest size: p95 limits, and growth over the smallest size. */
export function analyticsChecks({ sizes }: AnalyticsResult): Check[] {
  const verdicts = caseVerdicts(sizes);
  if (verdicts.length === 0) return [];
  const at = `at ${int(sizes.at(-1)!.rows)} rows`;
  const limit = (target: string, vs: typeof verdicts): Check[] => {
    if (!vs.length) return [];
    const s = vs.reduce((a, b) => (b.last.p95Ms > a.last.p95Ms ? b : a));
    return [{ target, measured: `${vs.filter((v) => v.withinLimit).length} of ${vs.length}; slowest ${s.c.id}, ${f(s.last.p95Ms, 1)} ms`, ok: vs.every((v) => v.withinLimit) }];
  };
  const grown = verdicts.reduce((a, b) => (b.growth > a.growth ? b : a));
  return [
    ...limit(`every analytics endpoint p95 ≤ 50 ms ${at}`, verdicts.filter((v) => !v.c.logWithFilter)),
    ...limit(`log pages with a filter and their total p95 ≤ 100 ms ${at}`, verdicts.filter((v) => v.c.logWithFilter)),
    ...(sizes.length > 1
      ? [
          {
            target: `every analytics case's p95 ≤ 1.5× its ${int(sizes[0]!.rows)}-row figure (growth ignored under 5 ms)`,
            measured: `${verdicts.filter((v) => v.withinGrowth).length} of ${verdicts.length}; largest ×${f(grown.growth)}, ${grown.c.id}`,
            ok: verdicts.every((v) => v.withinGrowth),
          },
        ]
      : []),
  ];
}

/** Every case's p50 / p95 at each size, its growth and its verdict. */
export function analyticsCaseTable({ sizes }: AnalyticsResult): string[] {
  return [
    `| case | ${sizes.map((s) => `${int(s.rows)} p50 / p95 ms`).join(' | ')} | p95 growth | target |`,
    `| --- | ${sizes.map(() => '---').join(' | ')} | --- | --- |`,
    ...caseVerdicts(sizes).map(({ c, figs, growth, withinLimit, withinGrowth }) => {
      const tz = c.timeZone ? ` (${c.timeZone})` : '';
      return `| ${c.id}${c.id.includes(c.timeZone ?? '\0') ? '' : tz} | ${figs.map((x) => (x ? `${f(x.p50Ms, 1)} / ${f(x.p95Ms, 1)}` : '–')).join(' | ')} | ${sizes.length > 1 ? `×${f(growth)}` : ''} | ${mark(withinLimit && withinGrowth)} |`;
    }),
  ];
}

function analyticsSection(p: PhaseRecord<AnalyticsResult>): string {
  const sizes = p.figures.sizes;
  if (sizes.length === 0) return '';
  const last = sizes.at(-1)!;
  const first = sizes[0]!;
  const lines = [
    '## Analytics',
    '',
    conditions(p),
    '',
    'Rows spread over the 90 days ending at the load (20 models, 6 providers, 200 user paths, 30 labels with 0–3 per row, 10% gateway-cache hits, ~6% unknown costs), each size into a database of its own in one pass in time order, with COPY through the rollup trigger. One gateway (auth on) per size; each case: 2 untimed, then up to the configured number of timed sequential requests over HTTP, to the gateway of each size in turn (sizes measured in one run share its moments of noise), fewer (at least 3) once a case has run 8 s per size.',
    '',
    '| rows | measured (load average) | loaded at | VACUUM ANALYZE | table sizes (rows, MB) |',
    '| --- | --- | --- | --- | --- |',
    ...sizes.map(
      (s) =>
        `| ${int(s.rows)} | ${s.measuredAt.replace('T', ' ').slice(0, 16)} (${s.loadAverage.join(' ')}) | ${s.load ? `${int(s.load.rowsPerSecond)} rows/s (COPY of ${int(s.load.batchRows)} rows per statement)` : 'reused'} | ${s.load ? `${f(s.load.vacuumAnalyzeSeconds, 1)} s` : ''} | ${s.tables.filter((t) => t.rows > 0).map((t) => `${t.name} ${int(t.rows)} / ${t.mb}`).join('; ')} |`,
    ),
    '',
    ...analyticsCaseTable(p.figures),
  ];
  lines.push(
    '',
    `Targets at ${int(last.rows)} rows: every endpoint p95 ≤ 50 ms and ≤ 1.5× its ${int(first.rows)}-row figure (growth ignored under 5 ms); log pages with a filter and their total p95 ≤ 100 ms.`,
  );
  const plans = sizes.flatMap((s) => s.plans);
  if (plans.length) lines.push('', `EXPLAIN (ANALYZE, BUFFERS) of the cases over target: ${plans.map((x) => `\`${x}\``).join(', ')}.`);
  lines.push('');
  return lines.join('\n');
}

/** Time to fail over from a primary that refuses connections or hangs, against one that answers. */
export function failoverTable({ headerTimeoutMs, cases }: FailoverResult): string[] {
  const healthy = cases.find((c) => c.id === 'healthy');
  const ms = (n: number) => n.toFixed(1);
  return [
    `Sequential chat completions whose primary model moves on to the same mock model; retries off (RETRY_MAX_RETRIES=0), HTTP_RESPONSE_HEADER_TIMEOUT=${headerTimeoutMs} ms. \`added\` is over a primary that answers.`,
    '',
    '| primary | requests | p50 ms | p99 ms | max ms | added p50 ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...cases.map((c) => `| ${c.label} | ${c.n} | ${ms(c.p50Ms)} | ${ms(c.p99Ms)} | ${ms(c.maxMs)} | ${healthy && c !== healthy ? ms(c.p50Ms - healthy.p50Ms) : '—'} |`),
    '',
  ];
}

/** The response cache's hit path against a proxied request, at c=1. */
export function cacheTable({ cases, hitsBeatProxied }: CacheResult): string[] {
  const ms = (n: number) => n.toFixed(2);
  return [
    `Sequential chat completions (~4.5 KB), answered from the exact response cache or proxied to the mock (\`Cache-Control: no-cache\`), alternately. Hits ${hitsBeatProxied ? 'beat' : 'do not beat'} proxied requests at p50.`,
    '',
    '| request | n | p50 ms | p99 ms |',
    '| --- | ---: | ---: | ---: |',
    ...cases.map((c) => `| ${c.label} | ${c.n} | ${ms(c.p50Ms)} | ${ms(c.p99Ms)} |`),
    '',
  ];
}

export function renderMarkdown(r: Results): string {
  const m = r.machine;
  return [
    `# gomodel-ts benchmarks`,
    '',
    `${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB (the machine of the latest run; each section names its own); Node ${m.node}; PostgreSQL ${m.postgres}; wrk ${m.wrk}. gomodel-ts runs as one process unless a row says 2 workers (GOMODEL_WORKERS=2, Node's cluster module), with usage recording, a budget on the traffic's path, auth and LOG_LEVEL=warn.`,
    '',
    ...(r.proxy ? [proxySection(r.proxy)] : []),
    ...(r.failover ? [['## Failover', '', conditions(r.failover), '', ...failoverTable(r.failover.figures)].join('\n')] : []),
    ...(r.cache ? [['## Response cache', '', conditions(r.cache), '', ...cacheTable(r.cache.figures)].join('\n')] : []),
    ...(r.ingest ? [ingestSection(r.ingest)] : []),
    ...(r.analytics ? [analyticsSection(r.analytics)] : []),
  ].join('\n');
}
