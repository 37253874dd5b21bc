import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect, type Sql } from '../../src/db/sql.ts';
import { belowCubes, cubes, dailyCubes } from '../../src/usage/queries.ts';
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

async function primaryKey(table: string): Promise<string[]> {
  const key = await sql<{ column: string }[]>`
    select a.attname as column from pg_index i
      join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey)
     where i.indrelid = ${table}::regclass and i.indisprimary
     order by array_position(i.indkey, a.attnum)`;
  return key.map((k) => k.column);
}

it('has a daily and an hourly table for every cube queries.ts reads, keyed by exactly its dimensions', async () => {
  expect(cubes).toHaveLength(7);
  for (const cube of cubes) {
    for (const grain of ['daily', 'hourly']) {
      expect(await primaryKey(`usage_${cube.name}_${grain}`)).toEqual(['bucket', 'cache_type', ...cube.dims]);
    }
  }
});

it('has a quarter-hour table, keyed alike, for the cubes queries.ts reads at 15 minutes', async () => {
  const quarterly = cubes.filter((c) => c.quarterHour).map((c) => c.name);
  expect(quarterly).toEqual(['model', 'path', 'label']);
  for (const cube of cubes.filter((c) => c.quarterHour)) {
    expect(await primaryKey(`usage_${cube.name}_quarter`)).toEqual(['bucket', 'cache_type', ...cube.dims]);
  }
});

it('has the daily-only cubes of 0010: keyed by their dimensions, or by subtree first', async () => {
  for (const cube of dailyCubes) expect(await primaryKey(`usage_${cube.name}_daily`)).toEqual(['bucket', 'cache_type', ...cube.dims]);
  for (const cube of belowCubes) expect(await primaryKey(`usage_${cube.name}_daily`)).toEqual(['path', 'cache_type', 'bucket', ...cube.dims]);
});
