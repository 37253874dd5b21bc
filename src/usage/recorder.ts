import type { Sql } from '../db/sql.ts';
import type { Logger } from '../log.ts';
import { usageColumns, type UsageRecord } from './record.ts';
import { rowLine, rowLinesSelect } from './row-line.ts';
import { SpillFiles } from './spill.ts';

export interface RecorderOptions {
  /** Flush at least this often (USAGE_FLUSH_INTERVAL). */
  flushIntervalMs: number;
  /** Flush as soon as this many rows are queued. */
  flushThreshold: number;
  /** Rows kept in memory; beyond this they go to the spill file (USAGE_BUFFER_SIZE). */
  bufferSize: number;
  /** Rows per INSERT statement. */
  maxBatch: number;
  /** INSERT statements in flight at once: one runs its rollup trigger while the next parses its rows. */
  writers: number;
  /** Where rows wait while the database is unreachable. */
  spillDir: string;
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

export interface RecorderStats {
  recorded: number;
  written: number;
  spilled: number;
  replayed: number;
  rejected: number;
  lost: number;
  queued: number;
  databaseDown: boolean;
}

const insertLines = `insert into usage (${usageColumns.map((c) => `"${c}"`).join(', ')}) ${rowLinesSelect} on conflict (id) do nothing`;

/** SQLSTATE classes 22 (data exception) and 23 (integrity): the row is bad, not the database. */
const isDataError = (err: unknown): boolean => /^2[23]/.test(String((err as { code?: unknown }).code ?? ''));

/**
 * Asynchronous, batched writer of usage rows. `record()` serialises the row and never waits on
 * the database; rows wait as row lines (row-line.ts), so a flush only joins strings (no pause of
 * the event loop that grows with the batch) and the garbage collector has one string per row to move.
 * Rows are inserted idempotently (by id) in batches, at `flushThreshold` rows or every
 * `flushIntervalMs`. While PostgreSQL is unreachable rows wait in memory up to `bufferSize`, the
 * rest (and any batch whose insert failed) are appended to a spill file that is replayed when the
 * database answers again, at start-up, and on the next start after a crash. `close()` drains
 * everything to the database, or to the spill file if the database is down.
 */
export class UsageRecorder {
  private queue: string[] = [];
  private inFlight = 0;
  private waiting: (() => void)[] = [];
  private replaying: Promise<void> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private probe: NodeJS.Timeout | undefined;
  private down = false;
  private closed = false;
  private readonly spill: SpillFiles;
  private readonly counts = { recorded: 0, written: 0, spilled: 0, replayed: 0, rejected: 0, lost: 0 };

  constructor(
    private readonly sql: Sql,
    private readonly opts: RecorderOptions,
    private readonly log: Logger,
  ) {
    this.spill = new SpillFiles(opts.spillDir);
  }

  get stats(): RecorderStats {
    return { ...this.counts, queued: this.queue.length, databaseDown: this.down };
  }

  /** Starts the flush timer and replays rows left in spill files by earlier runs. */
  start(): void {
    this.timer = setInterval(() => this.tick(), this.opts.flushIntervalMs);
    this.timer.unref();
    void this.replay();
  }

  record(row: UsageRecord): void {
    this.counts.recorded++;
    const line = rowLine(row);
    if (this.closed || this.queue.length >= this.opts.bufferSize) {
      void this.toSpill([line]);
      return;
    }
    this.queue.push(line);
    if (this.queue.length >= this.opts.flushThreshold) this.pump();
  }

  /** Writes every queued row (resolves when the queue is empty or the database is down). */
  flush(): Promise<void> {
    this.pump(true);
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Stops the timers and drains the queue: into the database, or into the spill file. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.probe);
    await this.replaying;
    await this.flush();
    if (this.queue.length) await this.toSpill(this.queue.splice(0));
    await this.spill.settled();
  }

  /** Writes what is queued, however little, so no row waits longer than the flush interval. */
  private tick(): void {
    if (this.down) return;
    this.pump(true);
    if (this.spill.pending > 0) void this.replay();
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
      void this.write(this.queue.splice(0, this.opts.maxBatch)).finally(() => {
        this.inFlight--;
        this.pump();
        if (this.inFlight === 0) for (const resolve of this.waiting.splice(0)) resolve();
      });
    }
  }

  private async write(batch: string[]): Promise<void> {
    try {
      await this.insert(batch);
      this.counts.written += batch.length;
    } catch (err) {
      if (isDataError(err)) await this.isolate(batch, err);
      else {
        this.markDown(err);
        await this.toSpill(batch);
      }
    }
  }

  /**
   * One statement whatever the batch size: the rows travel as one text parameter of row lines.
   * (A multi-row VALUES list is a different statement per size, and postgres.js keeps each one
   * prepared on every connection: megabytes of cached statements under varying load.)
   */
  private insert(batch: readonly string[]) {
    return this.sql.unsafe(insertLines, [batch.join('\n')]);
  }

  /** A batch with a bad row: insert row by row so one bad row cannot hold back the others. */
  private async isolate(batch: readonly string[], cause: unknown): Promise<void> {
    this.log.error({ err: cause, rows: batch.length }, 'usage batch rejected by the database; retrying row by row');
    for (const row of batch) {
      try {
        await this.insert([row]);
        this.counts.written++;
      } catch (err) {
        if (isDataError(err)) {
          this.counts.rejected++;
          this.log.error({ err, row: row.slice(0, 2000) }, 'usage row rejected by the database');
        } else {
          this.markDown(err);
          await this.toSpill([row]);
        }
      }
    }
  }

  private async toSpill(rows: string[]): Promise<void> {
    try {
      await this.spill.append(rows);
      this.counts.spilled += rows.length;
    } catch (err) {
      this.counts.lost += rows.length;
      this.log.error({ err, rows: rows.length }, 'usage rows lost: spill file not writable');
    }
  }

  private markDown(err: unknown): void {
    if (this.down) return;
    this.down = true;
    this.log.warn({ err: String(err), queued: this.queue.length }, 'usage database unreachable; queueing rows and spilling to disk');
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.closed) return;
    this.probe = setTimeout(async () => {
      try {
        await this.sql`select 1`;
        this.down = false;
        this.log.info({ queued: this.queue.length, spilled: this.counts.spilled }, 'usage database reachable again; writing queued and spilled rows');
        await this.flush();
        await this.replay();
      } catch {
        this.scheduleProbe();
      }
    }, this.opts.probeIntervalMs);
    this.probe.unref();
  }

  /** Writes spill files into the database, deleting each one once it is fully written. */
  private replay(): Promise<void> {
    this.replaying ??= (async () => {
      try {
        for (const file of await this.spill.claim()) {
          for await (const batch of this.spill.read(file, this.opts.maxBatch, (line) =>
            this.log.error({ file, line: line.slice(0, 200) }, 'unreadable line in usage spill file skipped'),
          )) {
            try {
              await this.insert(batch);
              this.counts.replayed += batch.length;
            } catch (err) {
              if (!isDataError(err)) throw err;
              await this.isolate(batch, err);
            }
          }
          await this.spill.remove(file);
        }
      } catch (err) {
        // The file stays; it is claimed by this process and replayed on the next attempt.
        this.markDown(err);
      }
    })().finally(() => {
      this.replaying = null;
    });
    return this.replaying;
  }
}
