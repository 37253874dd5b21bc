import postgres from 'postgres';

export type Sql = postgres.Sql;

/** A postgres.js pool. Sessions run in UTC; time zones are applied explicitly in queries. */
export function connect(url: string, max: number): Sql {
  return postgres(url, {
    max,
    connect_timeout: 10,
    idle_timeout: 60,
    onnotice: () => {},
    connection: { TimeZone: 'UTC', application_name: 'gomodel-ts' },
  });
}

/** bigint and numeric arrive as strings; convert once, at the row boundary. */
export const toInt = (v: string | number | null | undefined): number => (v == null ? 0 : Number(v));
export const toMoney = (v: string | number | null | undefined): number | null => (v == null ? null : Number(v));
