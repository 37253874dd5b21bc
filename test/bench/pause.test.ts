import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, pauseBackends, untilIdle, type BenchDatabase } from '../../bench/lib/postgres.ts';

const settled = <T>(p: Promise<T>, ms: number) => Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe('the bench pausing a database during c=1 runs', () => {
  let db: BenchDatabase;
  let client: postgres.Sql;

  beforeAll(async () => {
    db = await createDatabase('pause_test');
    client = postgres(db.url, { max: 1, onnotice: () => {} });
    await client`select 1`;
  });

  afterAll(async () => {
    await client?.end({ timeout: 1 });
    await db?.drop();
  });

  it("holds another connection's query until resumed, and leaves the harness's own connection running", async () => {
    const resume = await pauseBackends([db]);
    let resumed = false;
    try {
      const held = client`select 1 as one`.execute();
      expect(await settled(held, 300)).toBe(false);
      const [own] = await db.sql<{ n: number }[]>`select 2 as n`;
      expect(own!.n).toBe(2);
      resume();
      resumed = true;
      expect(await settled(held, 5000)).toBe(true);
      expect((await held)[0]!.one).toBe(1);
    } finally {
      if (!resumed) resume();
    }
  });

  it('waits until no other connection runs a query', async () => {
    const sleeping = client`select pg_sleep(0.4)`.execute();
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await untilIdle(db);
    expect(Date.now() - started).toBeGreaterThan(150);
    expect(await settled(sleeping, 0)).toBe(true);
  });
});
