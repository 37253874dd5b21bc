import { readdir, readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { migrate } from '../../src/db/migrate.ts';
import { connect, type Sql } from '../../src/db/sql.ts';
import { createTestDatabase } from '../support/gateway.ts';
import { adminSql, uniqueName, withDatabase } from '../support/postgres.ts';

// Migration 0036 counts the unpriced provider calls stored before it into every rollup; the
// trigger counts those inserted after it. The same rows stored either way must leave every rollup
// identical (rollup-equivalence.test.ts holds the trigger's rollups to the raw rows).

const migrations = new URL('../../src/db/migrations/', import.meta.url);
const BACKFILL = 36;

/** 3,000 rows over four days: unpriced ones, priced ones and local-cache hits with no cost, at every path depth and label set. */
const insertRows = (sql: Sql, from: number, to: number) => sql`
  insert into usage (id, request_id, "timestamp", model, provider, provider_name, endpoint, user_path, cache_type, labels,
                     input_tokens, output_tokens, total_tokens, uncached_input_tokens, input_cost, output_cost, total_cost, cost_source)
  select md5(i::text)::uuid, 'bf-' || i, timestamptz '2026-05-10 00:00:00+00' + i * interval '117 seconds',
         (array['gpt-4o-mini', 'local-llm', 'claude-sonnet-4-5'])[1 + i % 3], (array['openai', 'ollama', 'anthropic'])[1 + i % 3],
         (array['openai', 'box', 'anthropic'])[1 + i % 3], '/v1/chat/completions',
         (array['/', '/a', '/a/b', '/a/b/c', '/x/y'])[1 + i % 5], case when i % 11 = 0 then 'exact' else '' end,
         case i % 4 when 1 then array['l1'] when 2 then array['l1', 'l2'] when 3 then array['l2'] else array[]::text[] end,
         100, 20, 120, 100,
         case when i % 3 = 1 or i % 7 = 0 then null else 0.0001 end, case when i % 3 = 1 or i % 7 = 0 then null else 0.00002 end,
         case when i % 3 = 1 or i % 7 = 0 then null else 0.00012 end, case when i % 3 = 1 or i % 7 = 0 then '' else 'model_pricing' end
    from generate_series(${from}::int, ${to - 1}::int) i`;

/** Every rollup with the count, each as its rows in a stable order. */
async function rollups(sql: Sql): Promise<Record<string, string>> {
  const tables = await sql<{ table_name: string }[]>`
    select table_name from information_schema.columns
     where table_schema = current_schema() and column_name = 'unpriced_requests' order by 1`;
  const out: Record<string, string> = {};
  for (const { table_name: t } of tables) {
    const [row] = await sql`select coalesce(json_agg(r order by r::text), '[]')::text as rows from ${sql(t)} r`;
    out[t] = row!.rows as string;
  }
  return out;
}

let admin: ReturnType<typeof adminSql>;
let beforeName: string;
let before: Sql;
let after: Awaited<ReturnType<typeof createTestDatabase>>;
let afterSql: Sql;
let applied: string[];

beforeAll(async () => {
  const adminUrl = inject('postgresAdminUrl');
  admin = adminSql(adminUrl);
  beforeName = uniqueName('gomodel_test_backfill');
  await admin.unsafe(`create database ${beforeName}`);
  before = connect(withDatabase(adminUrl, beforeName), 1);
  // The schema as it was before the backfill's migration, as the runner records it.
  await before`create table schema_migrations (version integer primary key, name text not null, applied_at timestamptz not null default now())`;
  for (const file of (await readdir(migrations)).filter((f) => /^\d{4}_.+\.sql$/.test(f)).sort()) {
    if (Number(file.slice(0, 4)) >= BACKFILL) continue;
    await before.begin(async (tx) => {
      await tx.unsafe(await readFile(new URL(file, migrations), 'utf8'));
      await tx`insert into schema_migrations (version, name) values (${Number(file.slice(0, 4))}, ${file})`;
    });
  }
  after = await createTestDatabase();
  afterSql = connect(after.url, 1);
  // Several statements each: rollup rows folded from more than one batch.
  for (let i = 0; i < 3000; i += 750) {
    await insertRows(before, i, i + 750);
    await insertRows(afterSql, i, i + 750);
  }
  applied = await migrate(before);
});

afterAll(async () => {
  await before?.end({ timeout: 1 });
  await afterSql?.end({ timeout: 1 });
  await after?.drop();
  await admin?.unsafe(`drop database if exists ${beforeName} with (force)`);
  await admin?.end({ timeout: 1 });
});

describe('migration 0036 (unpriced_requests in every rollup)', () => {
  it('counts the rows stored before it as the trigger counts rows stored after it', async () => {
    expect(applied[0]).toMatch(/^0036_/);
    const [backfilled, triggered] = await Promise.all([rollups(before), rollups(afterSql)]);
    expect(Object.keys(triggered)).toHaveLength(21);
    expect(backfilled).toEqual(triggered);
    // Unpriced provider calls: i % 3 = 1 or i % 7 = 0, less the local-cache hits (i % 11 = 0).
    const [counts] = await before<{ n: number; raw: number }[]>`
      select (select sum(unpriced_requests)::int from usage_totals_daily) as n,
             (select count(*)::int from usage where total_cost is null and cache_type = '') as raw`;
    expect(counts!.n).toBe(counts!.raw);
    expect(counts!.raw).toBeGreaterThan(1000);
  });

  it('leaves a trigger that goes on counting', async () => {
    await insertRows(before, 3000, 3500);
    await insertRows(afterSql, 3000, 3500);
    expect(await rollups(before)).toEqual(await rollups(afterSql));
  });
});
