import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';
import { connect, type Sql } from '../../src/db/sql.ts';
import { createLogger } from '../../src/log.ts';
import { http, HttpResponse, jsonFixture, mockProviders, realFetch } from '../support/providers.ts';

// A PostgreSQL of this test's own, so it can be stopped and started without touching other tests.
const log = createLogger('silent');
const msw = mockProviders();
let dir: string;
let spillDir: string;
let db: EmbeddedDatabase;
let port: number;
let sql: Sql;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gomodel-outage-'));
  await chmod(dir, 0o755); // the cluster may run as the postgres user (when tests run as root)
  spillDir = join(dir, 'spill');
  db = await startEmbeddedPostgres(join(dir, 'pg'), log);
  port = Number(new URL(db.url).port);
  sql = connect(db.url, 4);
  await migrate(sql);
  msw.use(
    http.get('https://api.openai.com/v1/models', () => HttpResponse.json(jsonFixture('openai/models.json'))),
    http.post('https://api.openai.com/v1/chat/completions', () => HttpResponse.json(jsonFixture('openai/chat.json'))),
  );
}, 60_000);

afterAll(async () => {
  await sql?.end({ timeout: 1 });
  await db?.stop();
  msw.close();
  await rm(dir, { recursive: true, force: true });
});

async function start(env: Record<string, string> = {}): Promise<{ gateway: Gateway; sdk: OpenAI }> {
  const config = loadConfig({ PORT: '0', POSTGRES_URL: db.url, USAGE_SPILL_DIR: spillDir, USAGE_FLUSH_INTERVAL: '100ms', USAGE_BUFFER_SIZE: '100', OPENAI_API_KEY: 'sk-test', LOG_LEVEL: 'silent', ...env });
  const gateway = await startGateway(config, { url: db.url, sql }, log);
  return { gateway, sdk: new OpenAI({ apiKey: 'unused', baseURL: `${gateway.url}/v1`, maxRetries: 0, fetch: realFetch }) };
}

const rowsFor = async (prefix: string) => Number((await sql`select count(*) as n from usage where request_id like ${`${prefix}%`}`)[0]!.n);

async function traffic(sdk: OpenAI, prefix: string, count: number, concurrency: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const id = `${prefix}${next++}`;
        const completion = await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'X-Request-ID': id } });
        expect(completion.choices).toHaveLength(1);
      }
    }),
  );
}

it('keeps serving while PostgreSQL is down and writes every row once it is back', async () => {
  const { gateway, sdk } = await start();
  await traffic(sdk, 'before-', 100, 8);
  await db.stop();
  // More rows than USAGE_BUFFER_SIZE arrive during the outage: memory holds that many, the rest wait only in the journal.
  await traffic(sdk, 'during-', 400, 8);
  await expect.poll(() => gateway.recorder.stats.databaseDown, { timeout: 5000 }).toBe(true);
  expect(gateway.recorder.stats.spilled).toBeGreaterThan(0);
  expect(gateway.recorder.stats.queued).toBeLessThanOrEqual(100);
  db = await startEmbeddedPostgres(join(dir, 'pg'), log, port);
  await traffic(sdk, 'after-', 100, 8);
  await expect.poll(async () => [await rowsFor('before-'), await rowsFor('during-'), await rowsFor('after-')], { timeout: 15_000, interval: 200 }).toEqual([100, 400, 100]);
  expect(gateway.recorder.stats).toMatchObject({ lost: 0, rejected: 0 });
  await gateway.close();
  expect(await readdir(spillDir)).toEqual([]);
}, 60_000);

it('drains queued rows on shutdown, and a later start replays what the database could not take', async () => {
  const first = await start();
  await traffic(first.sdk, 'drain-', 50, 5);
  await first.gateway.close();
  expect(await rowsFor('drain-')).toBe(50);

  const second = await start();
  await db.stop();
  await traffic(second.sdk, 'shutdown-', 60, 5);
  await second.gateway.close();
  expect((await readdir(spillDir)).length).toBeGreaterThan(0);

  db = await startEmbeddedPostgres(join(dir, 'pg'), log, port);
  const third = await start();
  await expect.poll(() => rowsFor('shutdown-'), { timeout: 15_000, interval: 200 }).toBe(60);
  await third.gateway.close();
}, 60_000);

it('fails closed for budgeted paths while the budget store is unreachable, and keeps serving the others', async () => {
  const { gateway, sdk } = await start({ SET_BUDGET_GUARDED: 'daily=10' });
  const ask = (path: string) => sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'X-GoModel-User-Path': path } });
  await expect(ask('/guarded/app')).resolves.toBeTruthy();
  await db.stop();
  // Within a lease it already holds a process may serve until its next lease renewal (every 2 s)
  // finds the store gone; from then on it refuses.
  let err: InstanceType<typeof OpenAI.APIError> | undefined;
  await expect
    .poll(async () => (err = (await ask('/guarded/app').then(() => undefined, (e: unknown) => e)) as typeof err)?.code, { timeout: 5000, interval: 100 })
    .toBe('budget_check_failed');
  expect([err!.status, err!.type]).toEqual([503, 'provider_error']);
  await expect(ask('/free/app')).resolves.toBeTruthy();
  db = await startEmbeddedPostgres(join(dir, 'pg'), log, port);
  await expect.poll(() => ask('/guarded/app').then(() => 'served', () => 'refused'), { timeout: 10_000, interval: 200 }).toBe('served');
  await gateway.close();
}, 60_000);
