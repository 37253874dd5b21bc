import type { Sql } from '../db/sql.ts';
import { within } from '../deadline.ts';
import type { Logger } from '../log.ts';
import { usageColumns, type UsageRecord } from './record.ts';
import { rowLine, rowLinesSelect } from './row-line.ts';
import { Journal, type Segment } from './journal.ts';
import { insertAuditLines, isAuditLine } from './audit-line.ts';

export interface RecorderOptions {
  /** Flush at least this often (USAGE_FLUSH_INTERVAL); the journal starts a new segment as often. */
  flushIntervalMs: number;
  /** Flush as soon as this many rows are queued. */
  flushThreshold: number;
  /** Rows held in memory for the writers; beyond this they wait only in the journal (USAGE_BUFFER_SIZE). */
  bufferSize: number;
  /** Rows per INSERT statement. */
  maxBatch: number;
  /** INSERT statements in flight at once: one runs its rollup trigger while the next parses its rows. */
  writers: number;
  /** The journal's directory (USAGE_SPILL_DIR). */
  journalDir: string;
  /** fdatasync the journal this often; 0 = before acknowledging each group of rows (USAGE_JOURNAL_FSYNC_INTERVAL). */
  fsyncIntervalMs: number;
  /** How often to probe an unreachable database. */
  probeIntervalMs: number;
}

/**
 * How the gateway runs its recorder (the ingest bench runs the same). An INSERT runs two
 * statement triggers whatever its size, so rows are written a thousand at a time (or every flush
 * interval): at 100 PostgreSQL spent 106-112 us of CPU per proxied request, at 1,000 52-53. Batches
 * grow under load up to `maxBatch`: the rollup trigger's work follows the distinct keys of a batch,
 * not its rows, so a 10,000-row batch upserts 1.0 rollup rows per row where a 2,000-row one upserts
 * 2.6 (the bench's rows).
 */
export const gatewayRecorderTuning = { flushThreshold: 1000, maxBatch: 10_000, writers: 2, probeIntervalMs: 1000 } as const;

/** How often the journal directory is searched for files of dead processes (a cluster worker killed, an earlier run). */
const ORPHAN_SCAN_MS = 5000;

export interface RecorderStats {
  recorded: number;
  /** Rows the writers inserted from memory. */
  written: number;
  /** Rows that left memory uncommitted (buffer full, database down) and wait only in the journal. */
  spilled: number;
  /** Rows inserted from journal files read back (spilled rows, files of earlier processes). */
  replayed: number;
  rejected: number;
  lost: number;
  queued: number;
  databaseDown: boolean;
}

/** Consecutive rows of the queue that belong to one journal segment. */
interface Run {
  seg: Segment;
  n: number;
}

const insertLines = `insert into usage (${usageColumns.map((c) => `"${c}"`).join(', ')}) ${rowLinesSelect} on conflict (id, "timestamp") do nothing`;
const insertAudit = insertAuditLines();
/** Rows ($1) and audit entries ($2) in one statement, so both are in or neither: the entries' insert is a data-modifying CTE. */
const insertBoth = `with audit as (${insertAuditLines('$2')}) ${insertLines}`;

/** SQLSTATE classes 22 (data exception) and 23 (integrity): the row is bad, not the database. */
const isDataError = (err: unknown): boolean => /^2[23]/.test(String((err as { code?: unknown }).code ?? ''));

/**
 * Asynchronous, batched writer of usage rows behind a journal (journal.ts). `record()` serialises
 * the row, appends it to the journal and resolves once it is there (the handlers end the response
 * then); it never waits on the database. Rows also wait in memory as row lines (row-line.ts), so a
 * flush only joins strings and the garbage collector has one string per row to move. Rows are
 * inserted idempotently (by id) in batches, at `flushThreshold` rows or every `flushIntervalMs`,
 * and their journal segment is deleted once all its rows are in. Memory holds `bufferSize` rows:
 * while PostgreSQL is unreachable the rest (and any batch whose insert failed) wait only in the
 * journal, whose segments are read back when it answers again. Files of dead processes (and spill
 * files of earlier versions) are adopted and read back at start-up and every few seconds.
 */
export class UsageRecorder {
  private queue: string[] = [];
  private runs: Run[] = [];
  private inFlight = 0;
  private waiting: (() => void)[] = [];
  private replaying: Promise<void> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private probe: NodeJS.Timeout | undefined;
  private down = false;
  private closed = false;
  private scannedAt = 0;
  private journal: Journal | null = null;
  private readonly counts = { recorded: 0, written: 0, spilled: 0, replayed: 0, rejected: 0 };

  constructor(
    private readonly sql: Sql,
    private readonly opts: RecorderOptions,
    private readonly log: Logger,
  ) {}

  get stats(): RecorderStats {
    return { ...this.counts, lost: this.journal?.lost ?? 0, queued: this.queue.length, databaseDown: this.down };
  }

  /** Opens the journal (taking its lock), starts the flush timer and reads back files of earlier processes. */
  async start(): Promise<void> {
    this.journal = await Journal.open(this.opts.journalDir, { fsyncIntervalMs: this.opts.fsyncIntervalMs }, this.log);
    this.timer = setInterval(() => this.tick(), this.opts.flushIntervalMs);
    this.timer.unref();
    void this.replay();
  }

  /** Records a row; resolves once it is in the journal (a request's response ends after that). */
  record(row: UsageRecord, audit?: string): Promise<void> {
    this.counts.recorded++;
    const journaled = this.enqueue(rowLine(row));
    // Appended in the same turn, the audit line joins the row's group write and its promise.
    return audit === undefined ? journaled : this.enqueue(audit);
  }

  /** Records an audit line (audit-line.ts) of a request without a usage row, by the same path. */
  recordAudit(line: string): Promise<void> {
    return this.enqueue(line);
  }

  private enqueue(line: string): Promise<void> {
    const journal = this.journal;
    if (!journal) throw new Error('UsageRecorder.record() before start()');
    const kept = !this.closed && this.queue.length < this.opts.bufferSize;
    if (kept) {
      this.queue.push(line);
      const last = this.runs[this.runs.length - 1];
      if (last !== undefined && last.seg === journal.current) last.n++;
      else this.runs.push({ seg: journal.current, n: 1 });
    } else this.counts.spilled++;
    const journaled = journal.append(line, kept);
    if (kept && this.queue.length >= this.opts.flushThreshold) this.pump();
    return journaled;
  }

  /** Writes every queued row (resolves when the queue is empty or the database is down). */
  flush(): Promise<void> {
    this.pump(true);
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /**
   * Stops the timers and writes what memory holds, for at most `timeoutMs` (a database that
   * hangs cannot hold the shutdown); then closes the journal. Rows not yet in the database stay
   * in its files for the next process.
   */
  async close(timeoutMs = 30_000): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.probe);
    const drained = await within(
      (async () => {
        await this.replaying;
        await this.flush();
      })(),
      timeoutMs,
    );
    if (!drained) this.log.warn({ queued: this.queue.length }, 'usage database did not take the queued rows in time; they wait in the journal for the next start');
    // What memory still holds waits in the journal for the next process.
    this.counts.spilled += this.queue.length;
    for (const r of this.takeRuns(this.queue.splice(0).length)) this.journal?.overflow(r.seg);
    await this.journal?.close();
  }

  /** Writes the journal's open rows and syncs it, blocking: for an exit that cannot wait for close(). */
  syncJournal(): void {
    this.journal?.syncNow();
  }

  /**
   * Every flush interval: a new journal segment (once its rows are in the database the last one
   * is deleted, so a restart reads back at most an interval's rows again), a write of whatever is
   * queued, however little, and files to read back.
   */
  private tick(): void {
    const journal = this.journal!;
    if (journal.current.pending > 0 || journal.current.bytes > 0) journal.rotate();
    if (this.down) return;
    this.pump(true);
    if (journal.backlog || Date.now() - this.scannedAt >= ORPHAN_SCAN_MS) void this.replay();
  }

  /**
   * Starts writers (up to `writers`), each taking up to `maxBatch` rows, while a full batch of
   * `flushThreshold` rows is queued, or while any row is when `all` (a tick, a flush). A writer
   * that finishes starts the next one on the same terms, so steady traffic is written in batches
   * of at least `flushThreshold` rows: starting one for whatever arrived during the last insert
   * wrote batches of a few dozen rows, each paying the rollup trigger's fixed cost (PostgreSQL
   * spent 0.25 ms of CPU per proxied request at c=1 against 0.05 at c=128).
   */
  private pump(all = false): void {
    const enough = () => this.queue.length >= (all || this.waiting.length ? 1 : this.opts.flushThreshold);
    while (this.inFlight < this.opts.writers && !this.down && enough()) {
      this.inFlight++;
      const lines = this.queue.splice(0, this.opts.maxBatch);
      void this.write(lines, this.takeRuns(lines.length)).finally(() => {
        this.inFlight--;
        this.pump();
        if (this.inFlight === 0) for (const resolve of this.waiting.splice(0)) resolve();
      });
    }
  }

  /** The segments of the first `n` queued rows, which just left the queue. */
  private takeRuns(n: number): Run[] {
    const taken: Run[] = [];
    while (n > 0) {
      const run = this.runs[0]!;
      if (run.n <= n) {
        taken.push(this.runs.shift()!);
        n -= run.n;
      } else {
        taken.push({ seg: run.seg, n });
        run.n -= n;
        n = 0;
      }
    }
    return taken;
  }

  private async write(lines: string[], runs: Run[]): Promise<void> {
    const journal = this.journal!;
    try {
      const inserted = await this.commit(lines);
      this.counts.written += inserted;
      for (const r of runs) journal.settle(r.seg, r.n);
    } catch (err) {
      // The rows are in the journal: their segments are read back once the database answers.
      this.markDown(err);
      this.counts.spilled += lines.length;
      for (const r of runs) journal.overflow(r.seg);
    }
  }

  /**
   * Inserts a batch, row by row when it holds a bad row (so one cannot hold back the others).
   * Returns the rows inserted (rows already there are skipped); throws when the database fails.
   */
  private async commit(batch: readonly string[]): Promise<number> {
    try {
      return await this.insert(batch);
    } catch (err) {
      if (!isDataError(err)) throw err;
      this.log.error({ err, rows: batch.length }, 'usage batch rejected by the database; retrying row by row');
    }
    let inserted = 0;
    for (const row of batch) {
      try {
        inserted += await this.insert([row]);
      } catch (err) {
        if (!isDataError(err)) throw err;
        this.counts.rejected++;
        this.log.error({ err, row: row.slice(0, 2000) }, 'usage row rejected by the database');
      }
    }
    return inserted;
  }

  /**
   * One statement whatever the batch size: the rows travel as one text parameter of row lines.
   * (A multi-row VALUES list is a different statement per size, and postgres.js keeps each one
   * prepared on every connection: megabytes of cached statements under varying load.)
   */
  private async insert(batch: readonly string[]): Promise<number> {
    let audit: string[] | undefined;
    for (const line of batch) if (isAuditLine(line)) (audit ??= []).push(line);
    if (!audit) return (await this.sql.unsafe(insertLines, [batch.join('\n')])).count;
    if (audit.length === batch.length) {
      await this.sql.unsafe(insertAudit, [audit.join('\n')]);
      return 0;
    }
    const rows = batch.filter((line) => !isAuditLine(line));
    return (await this.sql.unsafe(insertBoth, [rows.join('\n'), audit.join('\n')])).count;
  }

  private markDown(err: unknown): void {
    if (this.down) return;
    this.down = true;
    this.log.warn({ err: String(err), queued: this.queue.length }, 'usage database unreachable; rows wait in the journal');
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.closed) return;
    this.probe = setTimeout(async () => {
      try {
        await this.sql`select 1`;
        this.down = false;
        this.log.info({ queued: this.queue.length, spilled: this.counts.spilled }, 'usage database reachable again; writing queued rows and reading back the journal');
        await this.flush();
        await this.replay();
      } catch {
        this.scheduleProbe();
      }
    }, this.opts.probeIntervalMs);
    this.probe.unref();
  }

  /**
   * Adopts files of dead processes (every ORPHAN_SCAN_MS) and writes journal files into the
   * database, deleting each once all its rows are in. A file is read whole again after a failure:
   * rows already in are skipped by their id.
   */
  private replay(): Promise<void> {
    this.replaying ??= (async () => {
      const journal = this.journal!;
      if (Date.now() - this.scannedAt >= ORPHAN_SCAN_MS) {
        this.scannedAt = Date.now();
        await journal.adopt().catch((err: unknown) => this.log.error({ err }, 'usage journal directory unreadable'));
      }
      for (let file = journal.nextReplayable(); file !== undefined; file = journal.nextReplayable()) {
        let databaseFailed = false;
        try {
          for await (const batch of journal.read(file, this.opts.maxBatch, (line) =>
            this.log.error({ file, line: line.slice(0, 200) }, 'unreadable line in usage journal skipped'),
          )) {
            if (this.closed) throw new Error('closing');
            databaseFailed = true;
            const inserted = await this.commit(batch);
            databaseFailed = false;
            this.counts.replayed += inserted;
          }
        } catch (err) {
          journal.putBack(file);
          if (databaseFailed) this.markDown(err);
          else if (!this.closed) this.log.error({ err, file }, 'usage journal file unreadable; trying again later');
          return;
        }
        await journal.remove(file).catch((err: unknown) => this.log.error({ err, file }, 'usage journal file written but not deleted; the next process reads it again (its rows are skipped by id)'));
      }
    })().finally(() => {
      this.replaying = null;
    });
    return this.replaying;
  }
}
