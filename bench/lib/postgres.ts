import postgres from 'postgres';
import { migrate } from '../../src/db/migrate.ts';
import { connect, type Sql } from '../../src/db/sql.ts';

/** The machine's server (trust auth); BENCH_POSTGRES_URL points the harness elsewhere. */
export const serverUrl = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export function databaseUrl(name: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

function admin() {
  return postgres(serverUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 });
}

/** The harness's own connections, told apart from a gateway's in pg_stat_activity. */
const HARNESS = 'gomodel-bench';

export interface BenchDatabase {
  name: string;
  url: string;
  /** A pool on the database, for the harness's own queries. */
  sql: Sql;
  drop(): Promise<void>;
}

/** Creates a fresh database named for this run, migrated by the gateway's own migration runner. */
export async function createDatabase(purpose: string): Promise<BenchDatabase> {
  const name = `gomodel_bench_${purpose}_${process.pid}`;
  const a = admin();
  try {
    await a`drop database if exists ${a(name)} with (force)`;
    await a`create database ${a(name)}`;
  } finally {
    await a.end({ timeout: 1 });
  }
  const url = databaseUrl(name);
  const sql = connect(url, 4, { applicationName: HARNESS });
  await migrate(sql);
  return {
    name,
    url,
    sql,
    async drop() {
      await sql.end({ timeout: 1 });
      const b = admin();
      try {
        await b`drop database if exists ${b(name)} with (force)`;
      } finally {
        await b.end({ timeout: 1 });
      }
    },
  };
}

/** The server processes of the database's connections (the gateway's, opened as it needs them). */
export async function backendPids(db: BenchDatabase): Promise<number[]> {
  return (await db.sql<{ pid: number }[]>`select pid from pg_stat_activity where datname = ${db.name}`).map((r) => r.pid);
}

/**
 * Stops (SIGSTOP) the server processes of the databases' connections until the returned function
 * resumes them; the harness's own connections are left running. For timing a gateway at c=1 with its
 * database's CPU off this machine's cores: on this host's kernel a woken process waits for the
 * next scheduler tick (up to 4 ms) behind a running backend, whatever the backend's priority
 * (nice 19 and SCHED_IDLE alike), which is most of the gateway's c=1 p99 (see the README). The
 * gateway's recorder keeps working meanwhile: its rows queue and its INSERT waits, then completes.
 */
export async function pauseBackends(dbs: readonly BenchDatabase[]): Promise<() => void> {
  const pids: number[] = [];
  for (const db of dbs) {
    const rows = await db.sql<{ pid: number }[]>`select pid from pg_stat_activity where datname = ${db.name} and application_name <> ${HARNESS}`;
    pids.push(...rows.map((r) => r.pid));
  }
  const signal = (name: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, name);
      } catch {
        // The connection closed meanwhile.
      }
    }
  };
  signal('SIGSTOP');
  return () => signal('SIGCONT');
}

/** Waits (up to `timeoutMs`) until no connection to the database but the harness's is running a query. */
export async function untilIdle(db: BenchDatabase, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where datname = ${db.name} and application_name <> ${HARNESS} and state = 'active'`;
    if (row!.n === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function serverVersion(): Promise<string> {
  const a = admin();
  try {
    const [row] = await a`show server_version`;
    return String(row!.server_version);
  } finally {
    await a.end({ timeout: 1 });
  }
}
