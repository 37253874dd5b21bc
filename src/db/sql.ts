import postgres from 'postgres';

export type Sql = postgres.Sql;

/**
 * A postgres.js pool. Sessions run in UTC; time zones are applied explicitly in queries.
 * `asyncCommit` sessions do not wait for the WAL flush on commit: for writes whose loss in a
 * database crash is harmless (budget reservations), never for usage rows.
 */
export function connect(url: string, max: number, opts: { asyncCommit?: boolean; applicationName?: string } = {}): Sql {
  return postgres(url, {
    max,
    connect_timeout: 10,
    idle_timeout: 60,
    onnotice: () => {},
    connection: {
      TimeZone: 'UTC',
      application_name: opts.applicationName ?? 'gomodel-ts',
      // Compiling a plan costs tens of milliseconds; no query here runs long enough to repay it.
      jit: 'off',
      // Plan each statement for its values. After five runs of a prepared statement PostgreSQL may
      // switch to a generic plan, which cannot see how much of a cube a date or user-path range
      // covers: it guessed one row for 30,000 and ran the labels of a subtree 3x slower.
      plan_cache_mode: 'force_custom_plan',
      // A parallel worker is a process started for the query: on the bench machine two of them
      // took 37 ms to start for a 12 ms read of rollups (user paths in Asia/Kolkata at 10 M rows:
      // 58 ms with them, 12 without). Every query here reads rollups or an index range.
      max_parallel_workers_per_gather: '0',
      ...(opts.asyncCommit ? { synchronous_commit: 'off' } : {}),
    },
  });
}

/**
 * Resolves once the pool has PostgreSQL's array types. postgres.js fetches them on a pool's first
 * connection, and a query binding an array that races the fetch is sent as text: "malformed array
 * literal" (porsager/postgres#789; the budget guard's first top-up hit it under Deno). So a pool's
 * first query binds no array: this one.
 */
export async function withArrayTypes(sql: Sql): Promise<Sql> {
  await sql`select 1`;
  return sql;
}

/** bigint and numeric arrive as strings; convert once, at the row boundary. */
export const toInt = (v: string | number | null | undefined): number => (v == null ? 0 : Number(v));
export const toMoney = (v: string | number | null | undefined): number | null => (v == null ? null : Number(v));

/**
 * True when an error says the database cannot serve now, not that a statement was wrong: any error
 * but the server's own (a socket error such as EPIPE, postgres.js's CONNECTION_*), or a server error
 * of a lost connection (class 08), of no connection or resource to give (53: "too many clients
 * already"), or of shutting down (57P).
 */
export function isUnavailable(err: unknown): boolean {
  return !(err instanceof postgres.PostgresError) || /^(08|53|57P)/.test(err.code);
}
