import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connect, type Sql } from '../../src/db/sql.ts';
import { createLogger } from '../../src/log.ts';
import { UsageRecorder, type RecorderOptions } from '../../src/usage/recorder.ts';
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
  spillDir,
  probeIntervalMs: 50,
  ...overrides,
});

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
    for (let i = 0; i < 10; i++) recorder.record(usageRow());
    await expect.poll(() => count(), { timeout: 2000 }).toBe(10);
    await recorder.close();
  });

  it('flushes on the interval below the threshold', async () => {
    const recorder = new UsageRecorder(sql, options({ flushIntervalMs: 50 }), log);
    recorder.start();
    recorder.record(usageRow());
    await expect.poll(() => count(), { timeout: 2000 }).toBe(1);
    await recorder.close();
  });

  it('is idempotent by row id, in the table and in the rollups', async () => {
    const recorder = new UsageRecorder(sql, options(), log);
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

  it('keeps good rows of a batch that holds a bad one', async () => {
    const recorder = new UsageRecorder(sql, options(), log);
    recorder.record(usageRow());
    recorder.record(usageRow({ user_path: 'no-leading-slash' }));
    recorder.record(usageRow());
    await recorder.flush();
    expect(await count()).toBe(2);
    expect(recorder.stats).toMatchObject({ written: 2, rejected: 1 });
    await recorder.close();
  });

  it('spills to disk while the database is unreachable and replays on the next start', async () => {
    const unreachable = connect('postgres://postgres@127.0.0.1:1/none', 1);
    const down = new UsageRecorder(unreachable, options({ flushThreshold: 5, bufferSize: 8 }), log);
    const rows = Array.from({ length: 20 }, () => usageRow());
    for (const r of rows) down.record(r);
    await down.flush();
    expect(down.stats.databaseDown).toBe(true);
    await down.close();
    expect(down.stats).toMatchObject({ recorded: 20, written: 0, spilled: 20, lost: 0 });
    const files = await readdir(spillDir);
    const lines = (await Promise.all(files.map((f) => readFile(join(spillDir, f), 'utf8')))).join('').trim().split('\n');
    expect(new Set(lines.map((l) => (JSON.parse(l) as { id: string }).id))).toEqual(new Set(rows.map((r) => r.id)));
    await unreachable.end();

    const up = new UsageRecorder(sql, options(), log);
    up.start();
    await expect.poll(() => count(), { timeout: 5000 }).toBe(20);
    await expect.poll(() => readdir(spillDir), { timeout: 2000 }).toEqual([]);
    expect(up.stats.replayed).toBe(20);
    const stored = await sql`select id, "timestamp", labels, raw_data, total_cost from usage where id = ${rows[0]!.id}`;
    expect(stored[0]).toMatchObject({ id: rows[0]!.id, timestamp: rows[0]!.timestamp, labels: [], total_cost: '0.000027' });
    await up.close();
  });

  it('adopts the spill files of a process that is gone', async () => {
    const row = usageRow();
    const { writeFile } = await import('node:fs/promises');
    // pid 2^22+1 is above Linux's pid_max, so it cannot belong to a live process
    await writeFile(join(spillDir, 'usage-4194305-1-0.jsonl'), JSON.stringify(row) + '\n{"torn line');
    const recorder = new UsageRecorder(sql, options(), log);
    recorder.start();
    await expect.poll(() => count(), { timeout: 5000 }).toBe(1);
    await recorder.close();
  });
});
