import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import postgres from 'postgres';
import { connect } from '../../src/db/sql.ts';
import { migrate } from '../../src/db/migrate.ts';
import { timedGet } from '../lib/http-get.ts';
import { freePort } from '../lib/ports.ts';
import { createDatabase, databaseUrl, serverUrl, type BenchDatabase } from '../lib/postgres.ts';
import { loadAverage } from '../lib/proc-stats.ts';
import { builtGateway, startServer, type Server } from '../lib/processes.ts';
import { percentile } from '../lib/stats.ts';
import { MASTER_KEY } from '../proxy/targets.ts';
import { analyticsCases, budgetEnv, type AnalyticsCase } from './cases.ts';
import { explainCase } from './explain.ts';
import { loadUsage, type BulkLoad } from './load.ts';

export interface AnalyticsOptions {
  /** Table sizes to measure at, each in a database of its own. */
  sizes: number[];
  /** Timed requests per case (after WARMUP untimed ones), fewer when a case exceeds CASE_SECONDS. */
  samples: number;
  /** Keep each size's database (`gomodel_bench_analytics_1m`, …) and reuse it on the next run. */
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
/** Kept databases are named for their size: `gomodel_bench_analytics_1m`, `…_10m`. */
const KEPT_PREFIX = 'gomodel_bench_analytics_';
/** Time allowed per case, so slow cases at 10 M rows bound the run; at least MIN_SAMPLES are taken. */
const CASE_SECONDS = 8;
const MIN_SAMPLES = 3;
const WARMUP = 2;

const sizeName = (rows: number) => (rows % 1e6 === 0 ? `${rows / 1e6}m` : rows % 1e3 === 0 ? `${rows / 1e3}k` : String(rows));

/**
 * The kept database of one size, created and migrated when missing, and made again when it holds
 * another number of rows (a load that was interrupted).
 */
async function keptDatabase(rows: number, log: (line: string) => void): Promise<BenchDatabase> {
  const name = KEPT_PREFIX + sizeName(rows);
  const url = databaseUrl(name);
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    const [exists] = await admin`select 1 from pg_database where datname = ${name}`;
    if (exists) {
      const probe = postgres(url, { max: 1, onnotice: () => {} });
      const held = await probe`select count(*)::bigint as n from usage`.then(([r]) => Number(r!.n)).catch(() => 0);
      await probe.end({ timeout: 1 });
      if (held !== rows && held > 0) {
        log(`analytics: ${name} holds ${held.toLocaleString('en')} rows, not ${rows.toLocaleString('en')}: made again`);
        await admin`drop database ${admin(name)} with (force)`;
      }
    }
    await admin`create database ${admin(name)}`.catch((err: { code?: string }) => {
      if (err.code !== '42P04') throw err; // it exists
    });
  } finally {
    await admin.end({ timeout: 1 });
  }
  const sql = connect(url, 4);
  await migrate(sql);
  return { name, url, sql, drop: () => sql.end({ timeout: 1 }) };
}

async function tableSizes(db: BenchDatabase) {
  // A partition counts under its table (usage's months, migration 0035).
  const rows = await db.sql`
    select coalesce(p.relname, c.relname) as name, sum(greatest(c.reltuples, 0))::bigint as rows, sum(pg_total_relation_size(c.oid)) as bytes
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      left join pg_inherits i on i.inhrelid = c.oid left join pg_class p on p.oid = i.inhparent
     where n.nspname = 'public' and c.relkind = 'r' and (c.relname like 'usage%' or c.relname like 'budget%')
     group by 1 order by 1`;
  return rows.map((r) => ({ name: r.name as string, rows: Math.max(0, Number(r.rows)), mb: Math.round(Number(r.bytes) / 2 ** 20) }));
}

/**
 * Times one case on every size's gateway in turn, request by request, so a busy moment of the
 * machine lands on all sizes alike and their ratio is measured rather than two separate moments.
 */
async function timeCase(gateways: { url: string; agent: Agent }[], c: AnalyticsCase, samples: number): Promise<CaseFigures[]> {
  const path = `${c.path}${Object.keys(c.query).length ? `?${new URLSearchParams(c.query)}` : ''}`;
  const headers: Record<string, string> = { Authorization: `Bearer ${MASTER_KEY}`, ...(c.timeZone ? { 'X-GoModel-Timezone': c.timeZone } : {}) };
  const times = gateways.map((): number[] => []);
  const bytes = gateways.map(() => 0);
  const deadline = performance.now() + CASE_SECONDS * gateways.length * 1000;
  for (let i = 0; i < samples + WARMUP; i++) {
    for (const [g, { url, agent }] of gateways.entries()) {
      const { ms, body } = await timedGet(url + path, headers, agent);
      if (i >= WARMUP) times[g]!.push(ms);
      bytes[g] = body.length;
    }
    if (times[0]!.length >= MIN_SAMPLES && performance.now() > deadline) break;
  }
  return times.map((t, g) => ({ id: c.id, samples: t.length, p50Ms: percentile(t, 50), p95Ms: percentile(t, 95), maxMs: Math.max(...t), bytes: bytes[g]! }));
}

/** Whether a case misses its target at this size (absolute, or growth over the previous size). */
export function overTarget(c: AnalyticsCase, figures: CaseFigures, previous: CaseFigures | undefined): boolean {
  const limit = c.logWithFilter ? LOG_TARGET_MS : ENDPOINT_TARGET_MS;
  return figures.p95Ms > limit || (previous !== undefined && figures.p95Ms > GROWTH_LIMIT * previous.p95Ms && figures.p95Ms > 5);
}

/** Every case at every size, interleaved (one gateway per size's database). */
async function measureSizes(dbs: BenchDatabase[], opts: AnalyticsOptions, log: (line: string) => void): Promise<CaseFigures[][]> {
  const gateways: (Server & { agent: Agent })[] = [];
  const cases = dbs.map((): CaseFigures[] => []);
  try {
    for (const db of dbs) {
      const port = await freePort();
      const server = await startServer({
        name: `gomodel-analytics-${db.name}`,
        ...builtGateway(),
        cwd: new URL('../../', import.meta.url).pathname,
        port,
        env: { PORT: String(port), POSTGRES_URL: db.url, GOMODEL_MASTER_KEY: MASTER_KEY, LOG_LEVEL: 'warn', ...budgetEnv },
      });
      gateways.push({ ...server, agent: new Agent({ keepAlive: true, maxSockets: 1 }) });
    }
    for (const c of analyticsCases) {
      const figures = await timeCase(gateways, c, opts.samples);
      figures.forEach((f, i) => cases[i]!.push(f));
      const columns = figures.map((f, i) => `p50 ${f.p50Ms.toFixed(1).padStart(6)} p95 ${f.p95Ms.toFixed(1).padStart(6)}${i ? ` (×${(f.p95Ms / figures[i - 1]!.p95Ms).toFixed(2)})` : ''}`);
      log(`  ${c.id.padEnd(36)} ${columns.join('  |  ')} ms`);
    }
  } finally {
    for (const g of gateways) {
      g.agent.destroy();
      await g.stop();
    }
  }
  return cases;
}

/** EXPLAIN (ANALYZE, BUFFERS) files of the cases over target at one size. */
async function explainMisses(db: BenchDatabase, rows: number, cases: CaseFigures[], previous: CaseFigures[] | undefined, log: (line: string) => void): Promise<string[]> {
  const plans: string[] = [];
  const dir = new URL(`../results/plans-${new Date().toISOString().slice(0, 10)}/`, import.meta.url).pathname;
  for (const c of analyticsCases) {
    const f = cases.find((x) => x.id === c.id)!;
    if (!overTarget(c, f, previous?.find((p) => p.id === c.id))) continue;
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
  return plans;
}

/**
 * Analytics endpoints over real HTTP at each table size, rows loaded through the real trigger.
 * Each size has a database of its own, loaded in one pass in time order as a live gateway writes
 * it: adding the rows of the next size to the same 90 days rewrote every rollup row a second time
 * and scattered each day's rows over the table (the correlation of `bucket` with the physical
 * order fell from 1.0 to 0.5-0.6), which no gateway's table goes through. The sizes are then
 * measured together, case by case and request by request in turn.
 */
export async function runAnalytics(opts: AnalyticsOptions, log: (line: string) => void): Promise<AnalyticsResult> {
  const sizes = [...opts.sizes].sort((a, b) => a - b);
  const dbs: BenchDatabase[] = [];
  const loads: (BulkLoad | null)[] = [];
  try {
    for (const size of sizes) {
      const db = opts.keep ? await keptDatabase(size, log) : await createDatabase(`analytics_${sizeName(size)}`);
      dbs.push(db);
      const current = Number((await db.sql`select count(*)::bigint as n from usage`)[0]!.n);
      let load: BulkLoad | null = null;
      if (current !== size) {
        log(`analytics: loading ${size.toLocaleString('en')} rows into ${db.name}`);
        load = await loadUsage(db.sql, db.url, size, 1, BATCH_ROWS, log);
        log(`  ${Math.round(load.rowsPerSecond).toLocaleString('en')} rows/s; VACUUM ANALYZE ${load.vacuumAnalyzeSeconds.toFixed(1)} s`);
      }
      loads.push(load);
    }
    const tables = await Promise.all(dbs.map(tableSizes));
    const measuredAt = new Date().toISOString();
    const loadAtStart = loadAverage();
    log(`analytics: ${sizes.map((n) => n.toLocaleString('en')).join(' | ')} rows`);
    const cases = await measureSizes(dbs, opts, log);
    const results: SizeResult[] = [];
    for (const [i, rows] of sizes.entries()) {
      const plans = await explainMisses(dbs[i]!, rows, cases[i]!, cases[i - 1], log);
      results.push({ rows, measuredAt, loadAverage: loadAtStart, load: loads[i]!, tables: tables[i]!, cases: cases[i]!, plans });
    }
    return { sizes: results };
  } finally {
    for (const db of dbs) await db.drop();
  }
}
