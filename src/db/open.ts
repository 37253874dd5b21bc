import type { Config } from '../config.ts';
import { StartupError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { migrate } from './migrate.ts';
import { connect, type Sql } from './sql.ts';

export interface Database {
  url: string;
  sql: Sql;
  close(): Promise<void>;
}

/** A failure to connect, as one sentence naming the server (never its password). */
function unreachable(url: string, err: unknown): unknown {
  const code = String((err as { code?: unknown }).code ?? '');
  if (!/^(E[A-Z]+|08\w{3}|28\w{3}|3D000)$/.test(code)) return err;
  const { hostname, port, pathname } = new URL(url);
  return new StartupError(`cannot use the PostgreSQL at ${hostname}:${port || 5432}${pathname} (POSTGRES_URL): ${(err as Error).message}`);
}

/**
 * Connects to POSTGRES_URL, or starts the embedded PostgreSQL when it is unset, and applies
 * pending migrations. The embedded server's package is loaded only when it runs (4 MB resident).
 */
export async function openDatabase(config: Readonly<Config>, log: Logger): Promise<Database> {
  const embedded = config.postgres.url ? null : await (await import('./embedded.ts')).startEmbeddedPostgres(config.dataDir, log);
  const url = config.postgres.url ?? embedded!.url;
  const sql = connect(url, config.postgres.maxConnections);
  try {
    const applied = await migrate(sql);
    if (applied.length) log.info({ applied }, 'database migrations applied');
  } catch (err) {
    await sql.end({ timeout: 1 });
    await embedded?.stop();
    throw unreachable(url, err);
  }
  return {
    url,
    sql,
    async close() {
      await sql.end({ timeout: 5 });
      await embedded?.stop();
    },
  };
}
