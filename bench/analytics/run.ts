import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import postgres from 'postgres';
import { connect } from '../../src/db/sql.ts';
import { migrate } from '../../src/db/migrate.ts';
import { timedGet } from '../lib/http-get.ts';
import { freePort } from '../lib/ports.ts';
import { createDatabase, databaseUrl, serverUrl, type BenchDatabase } from '../lib/postgres.ts';
import { loadAverage } from '../lib/proc-stats.ts';
import { builtGateway, startServer } from '../lib/processes.ts';
import { percentile } from '../lib/stats.ts';
import { MASTER_KEY } from '../proxy/targets.ts';
import { analyticsCases, budgetEnv, type AnalyticsCase } from './cases.ts';
import { explainCase } from './explain.ts';
import { loadUsage, type BulkLoad } from './load.ts';

export interface AnalyticsOptions {
  /** Table sizes to measure at, ascending; rows are added between sizes. */
  sizes: number[];
  /** Timed requests per case (after WARMUP untimed ones), fewer when a case exceeds CASE_SECONDS. */
  samples: number;
  /** Keep the loaded database (`gomodel_bench_analytics`) and reuse it on the next run. */
  keep: boolean;
}

export interface CaseFigures {
  id: string;
  samples: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  bytes: number;
}

export interface SizeResult {
  rows: number;
  measuredAt: string;
  /** Load average when this size's requests began (sizes may be measured in separate runs). */
  loadAverage: number[];
  /** How the rows added for this size were loaded; null when an existing database was reused. */
  load: BulkLoad | null;
  /** Rows in each table and its size on disk with indexes, after VACUUM ANALYZE. */
  tables: { name: string; rows: number; mb: number }[];
  cases: CaseFigures[];
  /** EXPLAIN (ANALYZE, BUFFERS) files written for the cases over target. */
  plans: string[];
}

export interface AnalyticsResult {
  sizes: SizeResult[];
}

const LOG_TARGET_MS = 100;
const ENDPOINT_TARGET_MS = 50;
const GROWTH_LIMIT = 1.5;
const BATCH_ROWS = 250_000;
const KEPT = 'gomodel_bench_analytics';
/** Time allowed per case, so slow cases at 10 M rows bound the run; at least MIN_SAMPLES are taken. */
const CASE_SECONDS = 8;
const MIN_SAMPLES = 3;
const WARMUP = 2;

/** The kept database, created and migrated when missing. */
async function keptDatabase(): Promise<BenchDatabase> {
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    const [exists] = await admin`select 1 from pg_database where datname = ${KEPT}`;
    if (!exists) await admin`create database ${admin(KEPT)}`;
  } finally {
    await admin.end({ timeout: 1 });
  }
  const url = databaseUrl(KEPT);
  const sql = connect(url, 4);
  await migrate(sql);
  return { name: KEPT, url, sql, drop: () => sql.end({ timeout: 1 }) };
}

async function tableSizes(db: BenchDatabase) {
  const rows = await db.sql`
    select c.relname as name, c.reltuples::bigint as rows, pg_total_relation_size(c.oid) as bytes
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relkind = 'r' and (c.relname like 'usage%' or c.relname like 'budget%')
     order by c.relname`;
  return rows.map((r) => ({ name: r.name as string, rows: Math.max(0, Number(r.rows)), mb: Math.round(Number(r.bytes) / 2 ** 20) }));
}

async function timeCase(baseUrl: string, c: AnalyticsCase, samples: number, agent: Agent): Promise<CaseFigures> {
  const url = `${baseUrl}${c.path}${Object.keys(c.query).length ? `?${new URLSearchParams(c.query)}` : ''}`;
  const headers: Record<string, string> = { Authorization: `Bearer ${MASTER_KEY}`, ...(c.timeZone ? { 'X-GoModel-Timezone': c.timeZone } : {}) };
  const times: number[] = [];
  let bytes = 0;
  const deadline = performance.now() + CASE_SECONDS * 1000;
  for (let i = 0; i < samples + WARMUP; i++) {
    const { ms, body } = await timedGet(url, headers, agent);
    if (i >= WARMUP) times.push(ms);
    bytes = body.length;
    if (times.length >= MIN_SAMPLES && performance.now() > deadline) break;
  }
  return { id: c.id, samples: times.length, p50Ms: percentile(times, 50), p95Ms: percentile(times, 95), maxMs: Math.max(...times), bytes };
}

/** Whether a case misses its target at this size (absolute, or growth over the previous size). */
export function overTarget(c: AnalyticsCase, figures: CaseFigures, previous: CaseFigures | undefined): boolean {
  const limit = c.logWithFilter ? LOG_TARGET_MS : ENDPOINT_TARGET_MS;
  return figures.p95Ms > limit || (previous !== undefined && figures.p95Ms > GROWTH_LIMIT * previous.p95Ms && figures.p95Ms > 5);
}

async function measureSize(db: BenchDatabase, rows: number, opts: AnalyticsOptions, previous: SizeResult | undefined, log: (line: string) => void) {
  const port = await freePort();
  const gateway = await startServer({
    name: 'gomodel-analytics',
    ...builtGateway(),
    cwd: new URL('../../', import.meta.url).pathname,
    port,
    env: { PORT: String(port), POSTGRES_URL: db.url, GOMODEL_MASTER_KEY: MASTER_KEY, LOG_LEVEL: 'warn', ...budgetEnv },
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const cases: CaseFigures[] = [];
  try {
    for (const c of analyticsCases) {
      const f = await timeCase(gateway.url, c, opts.samples, agent);
      cases.push(f);
      const before = previous?.cases.find((p) => p.id === c.id);
      log(`  ${c.id.padEnd(36)} p50 ${f.p50Ms.toFixed(1).padStart(7)} ms  p95 ${f.p95Ms.toFixed(1).padStart(7)} ms${before ? `  (×${(f.p95Ms / before.p95Ms).toFixed(2)})` : ''}`);
    }
  } finally {
    agent.destroy();
    await gateway.stop();
  }
  const plans: string[] = [];
  const dir = new URL(`../results/plans-${new Date().toISOString().slice(0, 10)}/`, import.meta.url).pathname;
  for (const c of analyticsCases) {
    const f = cases.find((x) => x.id === c.id)!;
    if (!overTarget(c, f, previous?.cases.find((p) => p.id === c.id))) continue;
    const explained = await explainCase(db.url, c).catch((err: Error) => {
      log(`  EXPLAIN of ${c.id} failed: ${err.message}`);
      return null;
    });
    if (!explained) continue;
    mkdirSync(dir, { recursive: true });
    const file = `${dir}${rows}-${c.id.replace(/[^A-Za-z0-9]+/g, '-')}.txt`;
    writeFileSync(file, explained.join('\n\n'));
    plans.push(file.slice(file.indexOf('bench/')));
  }
  return { cases, plans };
}

/** Analytics endpoints over real HTTP at each table size, rows loaded through the real trigger. */
export async function runAnalytics(opts: AnalyticsOptions, log: (line: string) => void): Promise<AnalyticsResult> {
  const db = opts.keep ? await keptDatabase() : await createDatabase('analytics');
  const sizes: SizeResult[] = [];
  try {
    let current = Number((await db.sql`select count(*)::bigint as n from usage`)[0]!.n);
    for (const [i, size] of [...opts.sizes].sort((a, b) => a - b).entries()) {
      if (current > size) {
        log(`analytics: the kept database has ${current.toLocaleString('en')} rows, more than ${size.toLocaleString('en')}: size skipped`);
        continue;
      }
      let load: BulkLoad | null = null;
      if (current < size) {
        log(`analytics: loading ${(size - current).toLocaleString('en')} rows to reach ${size.toLocaleString('en')}`);
        load = await loadUsage(db.sql, db.url, size - current, i + 1, BATCH_ROWS, log);
        log(`  ${Math.round(load.rowsPerSecond).toLocaleString('en')} rows/s; VACUUM ANALYZE ${load.vacuumAnalyzeSeconds.toFixed(1)} s`);
        current = size;
      }
      log(`analytics: ${size.toLocaleString('en')} rows`);
      const tables = await tableSizes(db);
      const measuredAt = new Date().toISOString();
      const loadAtStart = loadAverage();
      const { cases, plans } = await measureSize(db, size, opts, sizes.at(-1), log);
      sizes.push({ rows: size, measuredAt, loadAverage: loadAtStart, load, tables, cases, plans });
    }
  } finally {
    await db.drop();
  }
  return { sizes };
}
