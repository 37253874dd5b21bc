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
  const sql = connect(url, 4);
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

export async function serverVersion(): Promise<string> {
  const a = admin();
  try {
    const [row] = await a`show server_version`;
    return String(row!.server_version);
  } finally {
    await a.end({ timeout: 1 });
  }
}
