import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { resolveDateRange } from '../../src/usage/dates.ts';
import { UsageQueries } from '../../src/usage/queries.ts';
import { gatewayRecorderTuning, UsageRecorder, type RecorderOptions, type RecorderStats } from '../../src/usage/recorder.ts';
import { rng, syntheticRow } from '../analytics/rows.ts';
import { createDatabase, type BenchDatabase } from '../lib/postgres.ts';

export interface IngestOptions {
  /** Seconds of unthrottled recording for the sustained rate. */
  seconds: number;
  /** Seconds of recording at a fixed rate while the database is held up for a third of them. */
  slowSeconds: number;
}

export interface Sustained {
  seconds: number;
  rows: number;
  rowsPerSecond: number;
  /** The most rows one INSERT takes (the recorder's maxBatch); batches grow to it under load. */
  maxBatch: number;
  maxQueued: number;
  spilled: number;
}

export interface TimelinePoint {
  t: number;
  queued: number;
  written: number;
  spilled: number;
  replayed: number;
}

export interface SlowDatabase {
  offeredRowsPerSecond: number;
  bufferSize: number;
  /** When the database stopped taking rows and for how long, from the start of recording. */
  blockedFromSeconds: number;
  blockedForSeconds: number;
  recorded: number;
  written: number;
  spilled: number;
  replayed: number;
  lost: number;
  maxQueued: number;
  /** From the end of the hold-up until the last row reached the table. */
  caughtUpAfterSeconds: number;
  /** Journal files still on disk after the recorder closed (each holds rows not yet in the table). */
  spillFilesLeft: number;
  rowsInTable: number;
  requestsInRollups: number;
  timeline: TimelinePoint[];
}

export interface IngestResult {
  sustained: Sustained;
  slowDatabase: SlowDatabase;
}

/** The gateway's recorder settings (default USAGE_BUFFER_SIZE, flush and fsync intervals) with a journal directory of the bench's own. */
function recorderOptions(journalDir: string, bufferSize = 10_000): RecorderOptions {
  return { ...gatewayRecorderTuning, flushIntervalMs: 1000, fsyncIntervalMs: 1000, bufferSize, journalDir };
}

const silent = pino({ level: 'warn' });
const done = (s: RecorderStats) => s.written + s.replayed + s.rejected + s.lost;

/** Rows as live traffic produces them: now, with the analytics dataset's paths, models and labels. */
function rowSource(seed: number) {
  const rand = rng(seed);
  let seq = seed * 1_000_000_000;
  return () => syntheticRow(rand, Date.now(), seq++);
}

/** Records as fast as the recorder writes (keeping its queue below the spill threshold). */
async function sustained(db: BenchDatabase, seconds: number): Promise<Sustained> {
  const spillDir = mkdtempSync(join(tmpdir(), 'gomodel-bench-spill-'));
  const opts = recorderOptions(spillDir);
  const recorder = new UsageRecorder(db.sql, opts, silent);
  const next = rowSource(1);
  await recorder.start();
  let maxQueued = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  while (performance.now() < deadline) {
    // Below the buffer, beyond which rows wait only in the journal: the recorder writes what it is given, no more.
    const room = opts.bufferSize - 1000 - recorder.stats.queued;
    for (let i = 0; i < Math.min(1000, room); i++) recorder.record(next());
    maxQueued = Math.max(maxQueued, recorder.stats.queued);
    // With the queue full, wait rather than spin: a spinning loop takes a core from PostgreSQL.
    if (room <= 0) await sleep(2);
    else await yieldToLoop();
  }
  while (done(recorder.stats) < recorder.stats.recorded) {
    await recorder.flush();
    await sleep(5);
  }
  const elapsed = (performance.now() - started) / 1000;
  const stats = recorder.stats;
  await recorder.close();
  rmSync(spillDir, { recursive: true, force: true });
  return { seconds: elapsed, rows: stats.written, rowsPerSecond: stats.written / elapsed, maxBatch: opts.maxBatch, maxQueued, spilled: stats.spilled };
}

const STALL_SECONDS = 10;

/** Requests the rollups hold for today and yesterday, read through the gateway's own queries. */
async function requestsInRollups(db: BenchDatabase): Promise<number> {
  const totals = await new UsageQueries(db.sql).summary(resolveDateRange({ days: 2 }, 'UTC', Date.now()), { cacheMode: 'all' });
  return totals.requests;
}

/**
 * Offers rows at a fixed rate while a concurrent transaction holds a SHARE lock on `usage`, so
 * inserts wait: the queue fills to USAGE_BUFFER_SIZE, the rest waits only in the journal, and once
 * the lock goes everything is written and the journal's segments read back.
 */
async function slowDatabase(db: BenchDatabase, seconds: number): Promise<SlowDatabase> {
  const spillDir = mkdtempSync(join(tmpdir(), 'gomodel-bench-spill-'));
  const bufferSize = 2000;
  const rate = 3000;
  const blockedFrom = seconds / 5;
  const blockedFor = seconds / 3;
  const before = Number((await db.sql`select count(*)::bigint as n from usage`)[0]!.n);
  const rolledUpBefore = await requestsInRollups(db);
  const recorder = new UsageRecorder(db.sql, recorderOptions(spillDir, bufferSize), silent);
  const next = rowSource(2);
  await recorder.start();
  const timeline: TimelinePoint[] = [];
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const sampler = setInterval(() => {
    const s = recorder.stats;
    timeline.push({ t: Math.round(elapsed() * 10) / 10, queued: s.queued, written: s.written, spilled: s.spilled, replayed: s.replayed });
  }, 250);

  let release: () => void = () => {};
  const released = new Promise<void>((r) => (release = r));
  const hold = (async () => {
    await sleep(blockedFrom * 1000);
    await db.sql.begin(async (tx) => {
      await tx`lock table usage in share mode`;
      await released;
    });
  })();
  setTimeout(release, (blockedFrom + blockedFor) * 1000);

  let offered = 0;
  while (elapsed() < seconds) {
    const due = Math.floor(elapsed() * rate);
    for (; offered < due; offered++) recorder.record(next());
    await sleep(5);
  }
  await hold;
  const releasedAt = blockedFrom + blockedFor;
  // Wait until every row is written, or until nothing has moved for STALL_SECONDS.
  let progress = done(recorder.stats);
  let movedAt = elapsed();
  while (done(recorder.stats) < recorder.stats.recorded && elapsed() - movedAt < STALL_SECONDS) {
    await sleep(50);
    if (done(recorder.stats) > progress) {
      progress = done(recorder.stats);
      movedAt = elapsed();
    }
  }
  const caughtUp = movedAt - releasedAt;
  clearInterval(sampler);
  const stats = recorder.stats;
  await recorder.close();
  const leftOnDisk = readdirSync(spillDir).length;
  rmSync(spillDir, { recursive: true, force: true });
  const rows = Number((await db.sql`select count(*)::bigint as n from usage`)[0]!.n);
  const rolledUp = await requestsInRollups(db);
  return {
    offeredRowsPerSecond: rate,
    bufferSize,
    blockedFromSeconds: blockedFrom,
    blockedForSeconds: blockedFor,
    recorded: stats.recorded,
    written: stats.written,
    spilled: stats.spilled,
    replayed: stats.replayed,
    lost: stats.lost,
    maxQueued: Math.max(...timeline.map((p) => p.queued)),
    caughtUpAfterSeconds: caughtUp,
    rowsInTable: rows - before,
    requestsInRollups: rolledUp - rolledUpBefore,
    spillFilesLeft: leftOnDisk,
    timeline,
  };
}

/** The usage recorder against the real database: its sustained rate, and a database that lags. */
export async function runIngest(opts: IngestOptions, log: (line: string) => void): Promise<IngestResult> {
  const db = await createDatabase('ingest');
  try {
    log('ingest: sustained');
    const s = await sustained(db, opts.seconds);
    log(`  ${Math.round(s.rowsPerSecond).toLocaleString('en')} rows/s over ${s.seconds.toFixed(1)} s (${s.rows.toLocaleString('en')} rows)`);
    log('ingest: database held up by a lock');
    const slow = await slowDatabase(db, opts.slowSeconds);
    log(`  recorded ${slow.recorded}, written ${slow.written}, spilled ${slow.spilled}, replayed ${slow.replayed}, lost ${slow.lost}; in table ${slow.rowsInTable}; caught up ${slow.caughtUpAfterSeconds.toFixed(1)} s after the lock`);
    return { sustained: s, slowDatabase: slow };
  } finally {
    await db.drop();
  }
}
