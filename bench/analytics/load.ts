import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Sql } from '../../src/db/sql.ts';
import { copyColumns, usageCopyText } from './rows.ts';

const DAY = 86_400_000;
const CHUNK_ROWS = 1000;

export interface BulkLoad {
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  /** Rows per COPY statement; the rollup trigger runs once per statement. */
  batchRows: number;
  vacuumAnalyzeSeconds: number;
}

/** Yields at most `limit` chunks from a shared iterator, so one generator feeds several COPYs. */
async function* take(source: Iterator<string>, limit: number): AsyncGenerator<string> {
  for (let i = 0; i < limit; i++) {
    const next = source.next();
    if (next.done) return;
    yield next.value;
  }
}

/**
 * One COPY statement fed through psql. (postgres.js 3.4.9's `copy … from stdin` writable
 * intermittently never emits 'finish' after the server has completed the COPY, hanging the load.)
 */
async function copyThroughPsql(url: string, chunks: AsyncIterable<string>): Promise<void> {
  const psql = spawn('psql', [url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', `\\copy usage (${copyColumns.join(', ')}) from stdin`], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  psql.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => psql.once('close', resolve));
  await pipeline(Readable.from(chunks), psql.stdin);
  const code = await exited;
  if (code !== 0) throw new Error(`psql COPY failed (${code}): ${stderr.slice(0, 2000)}`);
}

/**
 * Adds `count` rows over the 90 days ending now into the real `usage` table with COPY FROM
 * STDIN, `batchRows` per statement, so the statement-level trigger maintains every rollup exactly
 * as the gateway's inserts do. Then VACUUM ANALYZE, as autovacuum would on a live table.
 */
export async function loadUsage(sql: Sql, url: string, count: number, seed: number, batchRows: number, log: (line: string) => void): Promise<BulkLoad> {
  const end = Date.now();
  // The months the rows fall in get their partitions (migration 0035), as a gateway running
  // through those months has; on a table that is not partitioned (an older schema) nothing changes.
  const [layout] = await sql<{ partitioned: boolean }[]>`select relkind = 'p' as partitioned from pg_class where oid = 'usage'::regclass`;
  if (layout?.partitioned) await sql`select gomodel_maintain_partitions('usage', 'timestamp', 'month', 4, 2, null)`;
  const source = usageCopyText(count, end - 90 * DAY, end, seed, CHUNK_ROWS);
  const started = performance.now();
  let loaded = 0;
  while (loaded < count) {
    await copyThroughPsql(url, take(source, batchRows / CHUNK_ROWS));
    loaded = Math.min(count, loaded + batchRows);
    const seconds = (performance.now() - started) / 1000;
    log(`  loaded ${loaded.toLocaleString('en')} rows (${Math.round(loaded / seconds).toLocaleString('en')} rows/s)`);
  }
  const seconds = (performance.now() - started) / 1000;
  const vacuumStarted = performance.now();
  await sql`vacuum analyze`;
  return { rows: count, seconds, rowsPerSecond: count / seconds, batchRows, vacuumAnalyzeSeconds: (performance.now() - vacuumStarted) / 1000 };
}
