import type { Logger } from '../log.ts';
import type { Sql } from './sql.ts';

/** A backstop for a notification lost while the listening connection was down. */
const REFRESH_MS = 30_000;

/**
 * Keeps an in-memory copy of admin state in step with the database on every replica: loads it at
 * start, again on every notification on its channel and when the listening connection comes back
 * (postgres.js runs `onlisten` then), and every 30 s. Concurrent reloads share one load, and a
 * change during a load loads again, so the last state always wins.
 */
export class Watched {
  private loading: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private unlisten: (() => Promise<void>) | undefined;

  /** `load` reads the state and installs it; `what` names it in the log line of a failed reload. */
  constructor(
    private readonly load: () => Promise<void>,
    private readonly what: string,
    private readonly log: Logger,
  ) {}

  async start(listenSql: Sql, channel: string): Promise<void> {
    await this.reload();
    const reload = () => void this.reload().catch((err: unknown) => this.log.warn({ err: String(err) }, `could not reload ${this.what}`));
    const { unlisten } = await listenSql.listen(channel, reload, reload);
    this.unlisten = unlisten;
    // At a random phase: a process's stores, started together, would otherwise reload at the same
    // instant every period, each on a connection of its own, and keep them all open.
    this.timer = setTimeout(() => {
      reload();
      this.timer = setInterval(reload, REFRESH_MS);
      this.timer.unref();
    }, Math.random() * REFRESH_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer); // the first timeout or the interval after it: either is cleared so
    await this.unlisten?.();
  }

  reload(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      try {
        do {
          this.again = false;
          await this.load();
        } while (this.again);
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }
}
