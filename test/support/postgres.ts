import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

/** postgres.js admin connection for creating and dropping test databases. */
export function adminSql(url: string) {
  return postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
}

export const uniqueName = (prefix: string) => `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;

export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** True when a PostgreSQL server answers at the URL. */
export async function answers(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}
