import { readdir, readFile } from 'node:fs/promises';
import type { Sql } from './sql.ts';

const dir = new URL('./migrations/', import.meta.url);

/**
 * Applies the numbered `.sql` files in migrations/ that have not run yet, each in its own
 * transaction, forward only. An advisory lock serialises replicas starting at the same time.
 * Returns the names of the migrations applied.
 */
export async function migrate(sql: Sql): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_.+\.sql$/.test(f)).sort();
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext('gomodel-ts:migrations'))`;
    await tx`create table if not exists schema_migrations (
      version integer primary key, name text not null, applied_at timestamptz not null default now())`;
    const done = new Set((await tx<{ version: number }[]>`select version from schema_migrations`).map((r) => r.version));
    const applied: string[] = [];
    for (const file of files) {
      const version = Number(file.slice(0, 4));
      if (done.has(version)) continue;
      await tx.unsafe(await readFile(new URL(file, dir), 'utf8'));
      await tx`insert into schema_migrations (version, name) values (${version}, ${file})`;
      applied.push(file);
    }
    return applied;
  });
}
