import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connect, type Sql } from '../../src/db/sql.ts';
import { createLogger } from '../../src/log.ts';
import { UsageRecorder, type RecorderOptions } from '../../src/usage/recorder.ts';
import { rowLine } from '../../src/usage/row-line.ts';
import { createTestDatabase } from '../support/gateway.ts';
import { usageRow } from '../support/usage-rows.ts';

const log = createLogger('silent');
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: Sql;
let spillDir: string;

const options = (overrides: Partial<RecorderOptions> = {}): RecorderOptions => ({
  flushIntervalMs: 60_000,
  flushThreshold: 100,
  bufferSize: 1000,
  maxBatch: 500,
  writers: 2,
  journalDir: spillDir,
  fsyncIntervalMs: 1000,
  probeIntervalMs: 50,
  ...overrides,
});

/** Ids of the rows waiting in the journal directory (read synchronously: nothing else runs meanwhile). */
function waitingIds(): string[] {
  const ids: string[] = [];
  for (const name of readdirSync(spillDir).filter((n) => /\.(rows|jsonl)$/.test(n))) {
    for (const line of readFileSync(join(spillDir, name), 'utf8').split('\n')) {
      if (line) ids.push(line.startsWith('{') ? (JSON.parse(line) as { id: string }).id : line.slice(0, line.indexOf('\t')));
    }
  }
  return ids;
}

const count = async (s: Sql = sql) => Number((await s`select count(*) as n from usage`)[0]!.n);
const rollupRequests = async () => Number((await sql`select coalesce(sum(requests), 0) as n from usage_totals_daily`)[0]!.n);

beforeAll(async () => {
  db = await createTestDatabase();
  sql = connect(db.url, 2);
});
afterAll(async () => {
  await sql.end();
  await db.drop();
});
beforeEach(async () => {
  spillDir = await mkdtemp(join(tmpdir(), 'gomodel-recorder-'));
  const tables = await sql<{ name: string }[]>`select tablename as name from pg_tables where schemaname = 'public' and tablename like 'usage%'`;
  await sql`truncate ${sql(tables.map((t) => t.name))}`;
  return () => rm(spillDir, { recursive: true, force: true });
});

describe('UsageRecorder', () => {
  it('flushes on its own once the threshold is reached', async () => {
    const recorder = new UsageRecorder(sql, options({ flushThreshold: 10 }), log);
    await recorder.start();
    for (let i = 0; i < 10; i++) recorder.record(usageRow());
    await expect.poll(() => count(), { timeout: 2000 }).toBe(10);
    await recorder.close();
  });

  it('flushes on the interval below the threshold', async () => {
    const recorder = new UsageRecorder(sql, options({ flushIntervalMs: 50 }), log);
    await recorder.start();
    recorder.record(usageRow());
    await expect.poll(() => count(), { timeout: 2000 }).toBe(1);
    await recorder.close();
  });

  it('is idempotent by row id, in the table and in the rollups', async () => {
    const recorder = new UsageRecorder(sql, options(), log);
    await recorder.start();
    const row = usageRow();
    recorder.record(row);
    await recorder.flush();
    recorder.record(row);
    recorder.record(usageRow());
    await recorder.flush();
    expect(await count()).toBe(2);
    expect(await rollupRequests()).toBe(2);
    await recorder.close();
  });

  it('stores every field exactly, whatever characters the strings hold', async () => {
    const recorder = new UsageRecorder(sql, options(), log);
    await recorder.start();
    const row = usageRow({
      labels: ['a "quoted" label', 'braces {x}', 'back\\slash', 'ünïcødé ✓', 'NULL', ''],
      model: '\\N',
      costs_calculation_caveat: 'line one\nline two\twith a tab',
      raw_data: { prompt_cached_tokens: 12, nested: { list: [1, 'two', null] } },
      provider_id: 'id-with-\u0000-nul-and-\ud800-lone-surrogate',
      input_cost: '0.000000000000001',
      output_cost: '123456789.123456789012345',
      total_cost: '123456789.123456789012346',
      user_path: '/team/app',
    });
    recorder.record(row);
    recorder.record(usageRow({ input_cost: null, output_cost: null, total_cost: null, cost_source: '' }));
    await recorder.flush();
    const [stored] = await sql`select * from usage where id = ${row.id}`;
    expect(stored).toMatchObject({
      labels: row.labels,
      raw_data: row.raw_data,
      provider_id: 'id-with-\ufffd-nul-and-\ufffd-lone-surrogate',
      model: '\\N',
      costs_calculation_caveat: 'line one\nline two\twith a tab',
      input_cost: '0.000000000000001',
      output_cost: '123456789.123456789012345',
      total_cost: '123456789.123456789012346',
      timestamp: row.timestamp,
      user_path: '/team/app',
    });
    expect(Number((await sql`select count(*) as n from usage where total_cost is null`)[0]!.n)).toBe(1);
    expect(recorder.stats).toMatchObject({ written: 2, rejected: 0 });
    await recorder.close();
  });

  it('writes with several statements in flight and counts every row once in the rollups', async () => {
    const recorder = new UsageRecorder(sql, options({ flushThreshold: 50, maxBatch: 200, bufferSize: 100_000 }), log);
    await recorder.start();
    const rows = Array.from({ length: 5000 }, (_, i) =>
      usageRow({ user_path: `/t${i % 7}/s${i % 3}`, labels: i % 2 ? ['x'] : [], model: `m${i % 5}` }),
    );
    for (const r of rows) recorder.record(r);
    await recorder.flush();
    expect(await count()).toBe(5000);
    expect(await rollupRequests()).toBe(5000);
    const [sub] = await sql`select sum(requests) as n from usage_subtree_rollup where path = '/t3'`;
    expect(Number(sub!.n)).toBe(rows.filter((r) => r.user_path.startsWith('/t3/')).length);
    expect(recorder.stats).toMatchObject({ recorded: 5000, written: 5000, spilled: 0, queued: 0 });
    await recorder.close();
  });

  it('writes steady traffic in batches of at least the threshold, not whatever arrived during the last insert', async () => {
    // Counts INSERT statements on usage (each fires the rollup trigger once).
    await sql`create table if not exists statements_seen (n int not null)`;
    await sql`create or replace function count_statement() returns trigger language plpgsql as $$
      begin insert into statements_seen values (1); return null; end $$`;
    await sql`create or replace trigger count_statements after insert on usage for each statement execute function count_statement()`;
    try {
      const recorder = new UsageRecorder(sql, options({ flushThreshold: 50, maxBatch: 1000 }), log);
      await recorder.start();
      for (let i = 0; i < 50; i++) {
        for (let j = 0; j < 10; j++) recorder.record(usageRow());
        await new Promise((r) => setTimeout(r, 2));
      }
      await recorder.flush();
      expect(await count()).toBe(500);
      const n = (await sql<{ n: number }[]>`select count(*)::int as n from statements_seen`)[0]!.n;
      expect(n).toBeGreaterThan(0);
      expect(n).toBeLessThanOrEqual(500 / 50 + 1);
      await recorder.close();
    } finally {
      await sql`drop trigger count_statements on usage`;
      await sql`drop table statements_seen`;
    }
  });

  it('keeps good rows of a batch that holds a bad one', async () => {
    const recorder = new UsageRecorder(sql, options(), log);
    await recorder.start();
    recorder.record(usageRow());
    recorder.record(usageRow({ user_path: 'no-leading-slash' }));
    recorder.record(usageRow());
    await recorder.flush();
    expect(await count()).toBe(2);
    expect(recorder.stats).toMatchObject({ written: 2, rejected: 1 });
    await recorder.close();
  });

  it('acknowledges a row once it is in the journal, whatever the database does', async () => {
    const unreachable = connect('postgres://postgres@127.0.0.1:1/none', 1);
    const recorder = new UsageRecorder(unreachable, options(), log);
    await recorder.start();
    const row = usageRow();
    await recorder.record(row);
    expect(waitingIds()).toEqual([row.id]);
    await recorder.close();
    await unreachable.end();
  });

  it('deletes journal segments once their rows are in the database', async () => {
    const recorder = new UsageRecorder(sql, options({ flushIntervalMs: 50 }), log);
    await recorder.start();
    await Promise.all(Array.from({ length: 30 }, () => recorder.record(usageRow())));
    expect(waitingIds()).toHaveLength(30);
    await expect.poll(() => count(), { timeout: 5000 }).toBe(30);
    await expect.poll(waitingIds, { timeout: 2000 }).toEqual([]);
    await recorder.close();
    expect(await readdir(spillDir)).toEqual([]);
  });

  it('holds USAGE_BUFFER_SIZE rows in memory while the database is unreachable, and the next start reads the rest back from the journal', async () => {
    const unreachable = connect('postgres://postgres@127.0.0.1:1/none', 1);
    const down = new UsageRecorder(unreachable, options({ flushThreshold: 5, bufferSize: 8 }), log);
    await down.start();
    const rows = Array.from({ length: 200 }, () => usageRow());
    await Promise.all(rows.map((r) => down.record(r)));
    expect(down.stats.queued).toBeLessThanOrEqual(8);
    await down.flush();
    expect(down.stats.databaseDown).toBe(true);
    await down.close();
    expect(down.stats).toMatchObject({ recorded: 200, written: 0, spilled: 200, lost: 0, queued: 0 });
    expect(waitingIds().sort()).toEqual(rows.map((r) => r.id).sort());
    await unreachable.end();

    const up = new UsageRecorder(sql, options(), log);
    await up.start();
    await expect.poll(() => count(), { timeout: 5000 }).toBe(200);
    await expect.poll(waitingIds, { timeout: 2000 }).toEqual([]);
    expect(up.stats.replayed).toBe(200);
    const stored = await sql`select id, "timestamp", labels, raw_data, total_cost from usage where id = ${rows[0]!.id}`;
    expect(stored[0]).toMatchObject({ id: rows[0]!.id, timestamp: rows[0]!.timestamp, labels: [], total_cost: '0.000027' });
    await up.close();
  });

  it('replays the JSON-lines spill files of earlier versions and skips torn lines of either kind', async () => {
    const legacy = usageRow({ labels: ['a'] });
    const { budget_reservation_id: _a, budget_reserved: _b, ...beforeBudgets } = usageRow();
    const current = [usageRow(), usageRow({ model: 'tab\tand\nnewline', labels: ['x\ty'] })];
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(spillDir, 'usage-4194305-1-0.jsonl'), [legacy, beforeBudgets].map((r) => JSON.stringify(r)).join('\n') + '\n{"torn line');
    const lines = current.map(rowLine);
    await writeFile(join(spillDir, 'usage-4194305-1-1.rows'), `${lines.join('\n')}\n${lines[0]!.slice(0, -3)}`);
    const recorder = new UsageRecorder(sql, options(), log);
    await recorder.start();
    await expect.poll(() => count(), { timeout: 5000 }).toBe(4);
    await expect.poll(waitingIds, { timeout: 2000 }).toEqual([]);
    expect((await readdir(spillDir)).filter((n) => n.startsWith('usage-'))).toEqual([]);
    const [tabbed] = await sql`select model, labels from usage where id = ${current[1]!.id}`;
    expect(tabbed).toEqual({ model: 'tab\tand\nnewline', labels: ['x\ty'] });
    const [old] = await sql`select "timestamp", labels, budget_reserved from usage where id = ${beforeBudgets.id}`;
    expect(old).toEqual({ timestamp: beforeBudgets.timestamp, labels: [], budget_reserved: null });
    expect(recorder.stats).toMatchObject({ replayed: 4, rejected: 0 });
    await recorder.close();
  });

  it('adopts the spill files of a process that is gone', async () => {
    const row = usageRow();
    const { writeFile } = await import('node:fs/promises');
    // pid 2^22+1 is above Linux's pid_max, so it cannot belong to a live process
    await writeFile(join(spillDir, 'usage-4194305-1-0.jsonl'), JSON.stringify(row) + '\n{"torn line');
    const recorder = new UsageRecorder(sql, options(), log);
    await recorder.start();
    await expect.poll(() => count(), { timeout: 5000 }).toBe(1);
    await recorder.close();
    expect(await readdir(spillDir)).toEqual([]);
  });
});
