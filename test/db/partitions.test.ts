import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PartitionKeeper, type TimePartitioned } from '../../src/db/partitions.ts';
import { connect, type Sql } from '../../src/db/sql.ts';
import { createLogger } from '../../src/log.ts';
import { createTestDatabase } from '../support/gateway.ts';

const DAY = 86_400_000;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: Sql;

beforeAll(async () => {
  db = await createTestDatabase();
  sql = connect(db.url, 4);
  await sql`create table events (id int not null, at timestamptz not null, note text default 'x') partition by range (at)`;
});
afterAll(async () => {
  await sql.end({ timeout: 1 });
  await db.drop();
});

const keeper = (t: Partial<TimePartitioned>) =>
  new PartitionKeeper(sql, [{ table: 'events', column: 'at', unit: 'day', behind: 1, ahead: 2, keepMs: null, ...t }], createLogger('silent'));
const day = (offset: number) => new Date(Date.now() + offset * DAY).toISOString().slice(0, 10).replaceAll('-', '');
const partitions = async () =>
  (await sql<{ name: string; rows: number }[]>`
    select c.relname as name, (xpath('/row/n/text()', query_to_xml(format('select count(*) as n from %I', c.relname), false, true, '')))[1]::text::int as rows
      from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'events'::regclass order by 1`).map((p) => `${p.name}:${p.rows}`);

describe('time partitions (gomodel_maintain_partitions through PartitionKeeper)', () => {
  it('creates a default partition and one per day from behind to ahead, once', async () => {
    const [first] = await keeper({}).maintain();
    expect(first!.created).toEqual(['events_default', `events_p${day(-1)}`, `events_p${day(0)}`, `events_p${day(1)}`, `events_p${day(2)}`]);
    const [again] = await keeper({}).maintain();
    expect(again).toEqual({ table: 'events', created: [], dropped: [] });
  });

  it('catches a row older than every partition in the default one, and moves it when its day is created', async () => {
    await sql`insert into events (id, at) values (1, now() - interval '5 days'), (2, now()), (3, now() - interval '40 days')`;
    expect(await partitions()).toContain('events_default:2');
    const [changes] = await keeper({ behind: 6 }).maintain();
    expect(changes!.created).toContain(`events_p${day(-5)}`);
    const after = await partitions();
    expect(after).toContain(`events_p${day(-5)}:1`);
    expect(after).toContain('events_default:1');
    expect(after).toContain(`events_p${day(0)}:1`);
    expect((await sql`select id from events order by id`).map((r) => r.id)).toEqual([1, 2, 3]);
  });

  it('drops whole partitions past the retention and the default partition’s stragglers, keeping everything newer', async () => {
    await sql`insert into events (id, at) values (4, now() - interval '3 days'), (5, now() - interval '1 hour')`;
    const [changes] = await keeper({ keepMs: 2 * DAY }).maintain();
    expect(changes!.dropped).toEqual(expect.arrayContaining([`events_p${day(-5)}`]));
    expect(changes!.dropped).not.toContain(`events_p${day(-1)}`);
    // 1 (5 days old) and 3 (40 days, in the default partition) are gone; 4 (3 days) went with its day's partition
    expect((await sql`select id from events order by id`).map((r) => r.id)).toEqual([2, 5]);
    expect(await partitions()).toContain('events_default:0');
  });

  it('refuses an unknown unit', async () => {
    await expect(keeper({ unit: 'week' as 'day' }).maintain()).rejects.toThrow(/unit must be day or month/);
  });
});

describe('a table converted in place', () => {
  it('keeps its old rows in one partition up to a bound, and partitions by day only past it', async () => {
    await sql`create table legacy_events (id int not null, at timestamptz not null) partition by range (at)`;
    await sql.unsafe(`create table legacy_events_old partition of legacy_events for values from (minvalue) to ('${new Date(Date.now() + DAY).toISOString().slice(0, 10)}')`);
    await sql`insert into legacy_events values (1, now() - interval '300 days'), (2, now())`;
    const k = new PartitionKeeper(sql, [{ table: 'legacy_events', column: 'at', unit: 'day', behind: 3, ahead: 2, keepMs: null }], createLogger('silent'));
    const [changes] = await k.maintain();
    expect(changes!.created).toEqual(['legacy_events_default', `legacy_events_p${day(1)}`, `legacy_events_p${day(2)}`]);
    const [expired] = await new PartitionKeeper(sql, [{ table: 'legacy_events', column: 'at', unit: 'day', behind: 0, ahead: 0, keepMs: 10 * DAY }], createLogger('silent')).maintain();
    // the old partition's bound is tomorrow: it holds today's row, so it stays until it is all past the retention
    expect(expired!.dropped).toEqual([]);
    expect((await sql`select id from legacy_events order by id`).map((r) => r.id)).toEqual([1, 2]);
  });
});
