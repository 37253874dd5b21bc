import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect, type Sql } from '../../src/db/sql.ts';
import { cubes } from '../../src/usage/queries.ts';
import { createTestDatabase } from '../support/gateway.ts';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: Sql;

beforeAll(async () => {
  db = await createTestDatabase();
  sql = connect(db.url, 1);
});
afterAll(async () => {
  await sql.end();
  await db.drop();
});

it('has a daily and an hourly table for every cube queries.ts reads, keyed by exactly its dimensions', async () => {
  expect(cubes).toHaveLength(7);
  for (const cube of cubes) {
    for (const grain of ['daily', 'hourly']) {
      const key = await sql<{ column: string }[]>`
        select a.attname as column from pg_index i
          join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey)
         where i.indrelid = ${`usage_${cube.name}_${grain}`}::regclass and i.indisprimary
         order by array_position(i.indkey, a.attnum)`;
      expect(key.map((k) => k.column)).toEqual(['bucket', 'cache_type', ...cube.dims]);
    }
  }
});
