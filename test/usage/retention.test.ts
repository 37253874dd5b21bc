import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { inject } from 'vitest';
import * as admin from '../../generated/sdk.gen.ts';
import { startGateway } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { migrate } from '../../src/db/migrate.ts';
import { connect, type Sql } from '../../src/db/sql.ts';
import { createLogger } from '../../src/log.ts';
import type { UsageRecord } from '../../src/usage/record.ts';
import { contractClient } from '../support/contract.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { adminSql, uniqueName, withDatabase } from '../support/postgres.ts';
import { http, HttpResponse, jsonFixture, mockProviders, realFetch } from '../support/providers.ts';
import { usageRow } from '../support/usage-rows.ts';

// USAGE_RETENTION through a real gateway: old months leave as whole partitions while the rollups
// keep their totals, a partition dropped under traffic loses no newer row, and the migration that
// partitions the table keeps every row and rollup of a database that already has some.

const DAY = 86_400_000;
const KEY = 'sk-retention';
const OPENAI = 'https://api.openai.com/v1';
const msw = mockProviders();
let gw: TestGateway;

const utcDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const monthPartition = (ms: number) => `usage_p${new Date(ms).toISOString().slice(0, 7).replace('-', '')}`;

async function partitionNames(sql: Sql): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'usage'::regclass order by 1`;
  return rows.map((r) => r.name);
}

/** The partition holding each row, by request id. */
async function homes(sql: Sql, ids: string[]): Promise<Record<string, string>> {
  const rows = await sql<{ request_id: string; home: string }[]>`select request_id, tableoid::regclass::text as home from usage where request_id in ${sql(ids)}`;
  return Object.fromEntries(rows.map((r) => [r.request_id, r.home]));
}

/** Partitions for the six months before this one, as a gateway running that long has them. */
const monthsBehind = (sql: Sql) => sql`select gomodel_maintain_partitions('usage', 'timestamp', 'month', 6, 0, null)`;

beforeAll(async () => {
  msw.use(
    http.get(`${OPENAI}/models`, () => HttpResponse.json(jsonFixture('openai/models.json'))),
    http.post(`${OPENAI}/chat/completions`, () => HttpResponse.json(jsonFixture('openai/chat.json'))),
  );
  gw = await startTestGateway({
    GOMODEL_MASTER_KEY: KEY,
    OPENAI_API_KEY: 'sk-upstream',
    USAGE_FLUSH_INTERVAL: '50ms',
    USAGE_RETENTION: '60d',
    SET_BUDGET_RET: 'daily=1000',
  });
});
afterAll(async () => {
  await gw.stop();
  msw.close();
});

describe('rows past USAGE_RETENTION', () => {
  const now = Date.now();
  const old = [now - 150 * DAY, now - 100 * DAY];
  const kept = [now - 20 * DAY, now - 3_600_000];
  const range = { start_date: utcDate(now - 160 * DAY), end_date: utcDate(now) };

  it('leave with their month’s partition, newer rows stay, and the rollups still answer for the expired range', async () => {
    await monthsBehind(gw.sql);
    // The oldest unpriced: the rollups count it too.
    const unpriced = { total_cost: null, input_cost: null, output_cost: null, cost_source: '', costs_calculation_caveat: 'no price for openai/gpt-4o-mini' };
    const rows = [...old, ...kept].map((t, i) =>
      usageRow({ request_id: `ret-${i}`, timestamp: new Date(t), user_path: '/expiry', total_cost: '0.5', input_cost: '0.25', output_cost: '0.25', ...(i === 0 ? unpriced : {}) }),
    );
    for (const r of rows) gw.recorder.record(r);
    await gw.recorder.flush();
    const before = await homes(gw.sql, rows.map((r) => r.request_id));
    expect([before['ret-0'], before['ret-1']]).toEqual([monthPartition(old[0]!), monthPartition(old[1]!)]);
    const summaryBefore = (await admin.getUsageSummary({ client: gw.client, query: { ...range, user_path: '/expiry' }, throwOnError: true })).data;
    expect([summaryBefore.total_requests, summaryBefore.total_cost, summaryBefore.unknown_cost_requests]).toEqual([4, 1.5, 1]);
    const dailyBefore = (await admin.getDailyUsage({ client: gw.client, query: { ...range, user_path: '/expiry' }, throwOnError: true })).data;

    const [changes] = await gw.partitions.maintain();
    expect(changes!.dropped).toEqual(expect.arrayContaining([before['ret-0'], before['ret-1']]));
    const names = await partitionNames(gw.sql);
    expect(names).not.toContain(before['ret-0']);
    expect(names).not.toContain(before['ret-1']);
    expect(names).toEqual(expect.arrayContaining([before['ret-2'], before['ret-3'], 'usage_default']));
    const left = await homes(gw.sql, rows.map((r) => r.request_id));
    expect(Object.keys(left).sort()).toEqual(['ret-2', 'ret-3']);

    // Rollup-backed endpoints answer for the expired range as before.
    const summaryAfter = (await admin.getUsageSummary({ client: gw.client, query: { ...range, user_path: '/expiry' }, throwOnError: true })).data;
    expect(summaryAfter).toEqual(summaryBefore);
    expect((await admin.getDailyUsage({ client: gw.client, query: { ...range, user_path: '/expiry' }, throwOnError: true })).data).toEqual(dailyBefore);
    const models = (await admin.getModelUsage({ client: gw.client, query: { ...range, user_path: '/expiry' }, throwOnError: true })).data;
    expect(models.map((m) => m.requests)).toEqual([4]);

    // The log reads rows: it and its total cover the retained part of the range only.
    const log = (await admin.getUsageLog({ client: gw.client, query: { ...range, user_path: '/expiry' }, throwOnError: true })).data;
    expect([log.entries?.map((e) => e.request_id).sort(), log.total]).toEqual([['ret-2', 'ret-3'], 2]);
    const searched = (await admin.getUsageLog({ client: gw.client, query: { ...range, search: 'ret-' }, throwOnError: true })).data;
    expect([searched.entries?.map((e) => e.request_id).sort(), searched.total]).toEqual([['ret-2', 'ret-3'], 2]);
  });

  it('refuses to recalculate costs of a range reaching before the retention, and recalculates one within it', async () => {
    const refused = await admin.recalculatePricing({ client: gw.client, body: { confirmation: 'recalculate', start_date: utcDate(now - 100 * DAY), end_date: utcDate(now) } });
    expect(refused.response.status).toBe(400);
    expect(refused.error).toMatchObject({ type: 'invalid_request_error', param: 'start_date', status_code: 400 });
    expect(JSON.stringify(refused.error)).toMatch(/before the usage retention \(USAGE_RETENTION\)/);
    const byDays = await admin.recalculatePricing({ client: gw.client, body: { confirmation: 'recalculate', days: 90 } });
    expect([byDays.response.status, byDays.error]).toMatchObject([400, { param: 'days' }]);
    const within = await admin.recalculatePricing({ client: gw.client, body: { confirmation: 'recalculate', start_date: utcDate(now - 30 * DAY), user_path: '/expiry' }, throwOnError: true });
    expect(within.data.matched).toBe(2);
  });
});

describe('a partition dropped while traffic flows', () => {
  it('loses no newer row, counts each once in the rollups and leaves the budgets right', async () => {
    await monthsBehind(gw.sql);
    const expired = usageRow({ request_id: 'traffic-expired', timestamp: new Date(Date.now() - 120 * DAY), user_path: '/ret' });
    gw.recorder.record(expired);
    await gw.recorder.flush();
    const doomed = (await homes(gw.sql, ['traffic-expired']))['traffic-expired']!;
    expect(doomed).toMatch(/^usage_p\d{6}$/);

    const answered: string[] = [];
    let stop = false;
    const client = async (c: number) => {
      for (let n = 0; !stop; n++) {
        const id = `traffic-${c}-${n}`;
        const res = await realFetch(`${gw.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'x-request-id': id, 'x-gomodel-user-path': '/ret' },
          body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
        });
        const body = (await res.json()) as { choices?: unknown[] };
        if (res.status === 200 && body.choices?.length === 1) answered.push(id);
      }
    };
    const clients = Array.from({ length: 6 }, (_, c) => client(c));
    // Rows are being written (flushes every 50 ms) when the partition is dropped.
    await vi.waitUntil(async () => Number((await gw.sql`select count(*) as n from usage where request_id like 'traffic-%-%'`)[0]!.n) >= 20, { timeout: 30_000, interval: 20 });
    const [changes] = await gw.partitions.maintain();
    const droppedAt = answered.length;
    await vi.waitUntil(() => answered.length >= droppedAt + 40, { timeout: 30_000, interval: 20 });
    stop = true;
    await Promise.all(clients);
    await gw.recorder.flush();

    expect(changes!.dropped).toContain(doomed);
    expect(await partitionNames(gw.sql)).not.toContain(doomed);
    const stored = await gw.sql<{ request_id: string; n: number }[]>`
      select request_id, count(*)::int as n from usage where request_id like 'traffic-%-%' group by 1`;
    expect(stored.filter((r) => r.n !== 1)).toEqual([]);
    expect(stored.map((r) => r.request_id).sort()).toEqual([...answered].sort());
    expect(answered.length).toBeGreaterThan(droppedAt);

    // Each row counted once in the rollups: today's totals for /ret equal its rows.
    const today = utcDate(Date.now());
    const summary = (await admin.getUsageSummary({ client: gw.client, query: { start_date: today, end_date: today, user_path: '/ret' }, throwOnError: true })).data;
    const [raw] = await gw.sql`select count(*)::int as n from usage where user_path = '/ret' and "timestamp" >= ${today}::date`;
    expect(summary.total_requests).toBe(raw!.n);
    // The budget's spend is the cost of its period's rows, each settled once.
    const [budget] = await gw.sql<{ same: boolean; spent: string }[]>`
      select b.spent::text as spent, b.spent = (select sum(total_cost) from usage u where u.user_path = '/ret' and u.cache_type = '' and u."timestamp" >= b.period_start) as same
        from budgets b where b.user_path = '/ret'`;
    expect(budget).toMatchObject({ same: true });
    expect(Number(budget!.spent)).toBeGreaterThan(0);
  });
});

describe('migration 0035 on a database with rows', () => {
  const admins = adminSql(inject('postgresAdminUrl'));
  const name = uniqueName('gomodel_test_retention_migration');
  const url = withDatabase(inject('postgresAdminUrl'), name);
  let sql: Sql;
  const migrations = new URL('../../src/db/migrations/', import.meta.url);

  beforeAll(async () => {
    await admins.unsafe(`create database ${name}`);
    sql = connect(url, 4);
  });
  afterAll(async () => {
    await sql.end({ timeout: 1 });
    await admins.unsafe(`drop database if exists ${name} with (force)`);
    await admins.end();
  });

  /** Every rollup table's content (the tables the insert trigger maintains), as one text per table. */
  const rollups = async () =>
    Object.fromEntries(
      await Promise.all(
        (await sql<{ t: string }[]>`select relname as t from pg_class where relkind = 'r' and relnamespace = 'public'::regnamespace
            and relname like 'usage\\_%' and not relispartition and relname <> 'usage_legacy' order by 1`).map(async ({ t }) => [
          t,
          (await sql.unsafe(`select coalesce(string_agg(r::text, '|' order by r::text), '') as v from ${t} r`))[0]!.v as string,
        ]),
      ),
    );
  const rowsText = async () => (await sql`select string_agg(u::text, '|' order by id) as v from usage u`)[0]!.v as string;

  it('keeps every row and rollup, puts the old rows in one partition, and the gateway then writes and replays idempotently', async () => {
    // The migrations chosen, the way migrate() applies them.
    const apply = async (which: (version: number) => boolean) => {
      for (const file of (await readdir(migrations)).filter((f) => /^\d{4}_.+\.sql$/.test(f) && which(Number(f.slice(0, 4)))).sort()) {
        await sql.begin(async (tx) => {
          await tx.unsafe(await readFile(new URL(file, migrations), 'utf8'));
          await tx`insert into schema_migrations (version, name) values (${Number(file.slice(0, 4))}, ${file})`;
        });
      }
    };
    // A database of a version without 0035 (every other migration applied: 0035 runs last on it).
    await sql`create table schema_migrations (version integer primary key, name text not null, applied_at timestamptz not null default now())`;
    await apply((v) => v !== 35);
    expect((await sql`select relkind from pg_class where relname = 'usage'`)[0]!.relkind).toBe('r');
    const now = Date.now();
    const times = [now - 700 * DAY, now - 200 * DAY, now - 40 * DAY, now - 2 * DAY, now - 60_000, now + 200 * DAY];
    const rows: UsageRecord[] = times.flatMap((t, i) => [
      usageRow({ request_id: `mig-${i}-a`, timestamp: new Date(t), user_path: '/mig/a', labels: ['x'], session_id: 's1' }),
      usageRow({ request_id: `mig-${i}-b`, timestamp: new Date(t + 1000), user_path: '/mig/b', model: 'gpt-4o', total_cost: null, input_cost: null, output_cost: null }),
    ]);
    await sql`insert into budgets (user_path, period_seconds, amount, source) values ('/mig', 86400, 100, 'manual')`;
    // As the recorder of that version wrote them: one statement, its triggers folding the rollups.
    await sql`insert into usage ${sql(rows.map((r) => ({ ...r, raw_data: null })))} on conflict (id) do nothing`;
    const [rowsBefore, rollupsBefore] = [await rowsText(), await rollups()];
    expect(Object.keys(rollupsBefore).length).toBeGreaterThan(10);

    await apply((v) => v === 35);
    expect((await sql`select relkind from pg_class where relname = 'usage'`)[0]!.relkind).toBe('p');
    expect(await rowsText()).toBe(rowsBefore);
    expect(await rollups()).toEqual(rollupsBefore);
    const placed = await homes(sql, rows.map((r) => r.request_id));
    expect(new Set(rows.slice(0, 10).map((r) => placed[r.request_id]))).toEqual(new Set(['usage_legacy']));
    // Rows dated after the old table's bound (next month) moved to the partitions made for them.
    expect(placed['mig-5-a']).toBe('usage_default');
    const [bound] = await sql`select pg_get_expr(relpartbound, oid) as b from pg_class where relname = 'usage_legacy'`;
    expect(bound!.b).toMatch(/^FOR VALUES FROM \(MINVALUE\) TO \('\d{4}-\d{2}-01 00:00:00\+00'\)$/);
    expect(await partitionNames(sql)).toEqual(expect.arrayContaining(['usage_default', 'usage_legacy']));
    // The indexes of the old table were attached, not built again beside themselves.
    const [indexes] = await sql`select count(*)::int as n from pg_index where indrelid = 'usage_legacy'::regclass`;
    const [parentIndexes] = await sql`select count(*)::int as n from pg_index where indrelid = 'usage'::regclass`;
    expect(indexes!.n).toBe(parentIndexes!.n);

    expect(await migrate(sql)).toEqual([]);
    const spillDir = await mkdtemp(join(tmpdir(), 'gomodel-spill-'));
    const config = loadConfig({ PORT: '0', POSTGRES_URL: url, USAGE_SPILL_DIR: spillDir, LOG_LEVEL: 'silent', GOMODEL_MASTER_KEY: KEY, USAGE_RETENTION: '400d' });
    const gateway = await startGateway(config, { url, sql }, createLogger('silent'));
    try {
      const client = contractClient(gateway.url, KEY);
      const q = { start_date: utcDate(now - 364 * DAY), end_date: utcDate(now), user_path: '/mig' };
      const before = (await admin.getUsageSummary({ client, query: q, throwOnError: true })).data;
      expect(before.total_requests).toBe(8);
      // A journal replaying rows already in the old partition adds nothing; a new row lands once.
      for (const r of rows) gateway.recorder.record(r);
      gateway.recorder.record(usageRow({ request_id: 'mig-new', user_path: '/mig/a' }));
      await gateway.recorder.flush();
      expect(Number((await sql`select count(*) as n from usage where request_id like 'mig-%'`)[0]!.n)).toBe(rows.length + 1);
      expect((await admin.getUsageSummary({ client, query: q, throwOnError: true })).data.total_requests).toBe(9);
      const log = (await admin.getUsageLog({ client, query: { ...q, limit: 100 }, throwOnError: true })).data;
      expect(log.total).toBe(log.entries?.length);
    } finally {
      await gateway.close();
      await rm(spillDir, { recursive: true, force: true });
    }
  });
});
