import type { Logger } from '../log.ts';
import type { Sql } from './sql.ts';

/** How often partitions are created ahead and dropped behind. */
const MAINTAIN_MS = 60 * 60_000;

/** A table partitioned by a time column (migration 0032 describes the layout). */
export interface TimePartitioned {
  table: string;
  column: string;
  unit: 'day' | 'month';
  /** Partitions created before the current one, for rows that arrive late. */
  behind: number;
  /** Partitions created after the current one, so a new day or month never waits for this. */
  ahead: number;
  /** Data older than this many milliseconds leaves, a whole partition at a time; null keeps it. */
  keepMs: number | null;
}

export interface PartitionChanges {
  table: string;
  created: string[];
  dropped: string[];
}

/** Keeps each time-partitioned table's partitions: made ahead, dropped once past their retention. */
export class PartitionKeeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PartitionChanges[]> | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly tables: readonly TimePartitioned[],
    private readonly log: Logger,
  ) {}

  /** Maintains once (so today's partitions exist before the first insert), then every hour, also when this first run fails. */
  async start(): Promise<void> {
    this.timer = setInterval(() => void this.maintain().catch((err: unknown) => this.log.warn({ err: String(err) }, 'partition maintenance failed')), MAINTAIN_MS);
    this.timer.unref();
    await this.maintain();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Creates and drops what is due; concurrent calls share one run. */
  maintain(): Promise<PartitionChanges[]> {
    this.running ??= this.run().finally(() => (this.running = null));
    return this.running;
  }

  private async run(): Promise<PartitionChanges[]> {
    const out: PartitionChanges[] = [];
    for (const t of this.tables) {
      const [row] = await this.sql.begin(async (tx) => {
        // Dropping a partition waits for the queries reading the table; it must not hold up the
        // inserts queued behind it for longer than this. It is tried again at the next run.
        await tx`set local lock_timeout = '5s'`;
        return tx<{ created: string[]; dropped: string[] }[]>`
          select created, dropped from gomodel_maintain_partitions(${t.table}::regclass, ${t.column}, ${t.unit}, ${t.behind}, ${t.ahead},
            ${t.keepMs === null ? null : `${t.keepMs} milliseconds`}::interval)`;
      });
      const changes = { table: t.table, created: row?.created ?? [], dropped: row?.dropped ?? [] };
      if (changes.created.length || changes.dropped.length) this.log.info(changes, 'partitions maintained');
      out.push(changes);
    }
    return out;
  }
}
