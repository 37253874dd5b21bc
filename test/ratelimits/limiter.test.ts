import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { connect, type Sql } from '../../src/db/sql.ts';
import { GatewayError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import { RateLimiter, type Admission } from '../../src/ratelimits/limiter.ts';
import { RateLimitStore } from '../../src/ratelimits/store.ts';
import { createTestDatabase } from '../support/gateway.ts';

// Two limiters on separate pools stand for two gateway processes sharing one database (each has
// its own lease holder id); test/ratelimits/replicas.test.ts does the same with real processes.
const log = createLogger('silent');
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: Sql;
let store: RateLimitStore;
const running: { limiter: RateLimiter; pool: Sql }[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  sql = connect(db.url, 2);
  store = new RateLimitStore(sql);
});
afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.limiter.stop();
    await r.pool.end({ timeout: 1 });
  }
  await sql`delete from rate_limits`;
});
afterAll(async () => {
  await sql.end();
  await db.drop();
});

async function replica(syncMs = 50): Promise<RateLimiter> {
  const pool = connect(db.url, 4, { asyncCommit: true });
  const limiter = new RateLimiter(pool, new RateLimitStore(pool), { leaseTtlMs: 3000, syncMs }, log);
  await limiter.start();
  running.push({ limiter, pool });
  return limiter;
}

async function stopReplica(limiter: RateLimiter): Promise<void> {
  const i = running.findIndex((r) => r.limiter === limiter);
  const [r] = running.splice(i, 1);
  await r!.limiter.stop();
  await r!.pool.end({ timeout: 1 });
}

/** Admits or returns the refusal. */
async function attempt(limiter: RateLimiter, path: string, key: string | null = null): Promise<Admission | GatewayError> {
  try {
    return (await limiter.admit(path, key))!;
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
}

const admitted = (xs: (Admission | GatewayError)[]) => xs.filter((x) => !(x instanceof GatewayError)) as Admission[];
const refusals = (xs: (Admission | GatewayError)[]) => xs.filter((x) => x instanceof GatewayError) as GatewayError[];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A rule whose window starts now (a reset anchors it), so no window boundary falls inside a test. */
async function rule(subject: string, seconds: number, maxRequests: number | null, maxTokens: number | null = null, scope: 'user_path' | 'auth_key' = 'user_path') {
  await store.upsert({ scope, subject, periodSeconds: seconds }, maxRequests, maxTokens, 'manual');
  if (seconds > 0) await store.reset({ scope, subject, periodSeconds: seconds });
}

it('two replicas admit exactly the limit of a shared window between them, and say why they refuse', async () => {
  await rule('/team', 3600, 50);
  const [a, b] = [await replica(), await replica()];
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => attempt(i % 2 ? a : b, i % 4 < 2 ? '/team/x' : '/team/y/z')));
  expect(admitted(results).length).toBe(50);
  const refused = refusals(results);
  expect(refused.length).toBe(150);
  for (const e of refused) {
    expect([e.status, e.type, e.code]).toEqual([429, 'rate_limit_error', 'rate_limit_exceeded']);
    expect(e.message).toBe('rate limit exceeded for user path /team: 50 requests per hour');
    expect(Number(e.headers!['Retry-After'])).toBeGreaterThan(3500);
    expect(e.headers!['x-ratelimit-remaining-requests']).toBe('0');
  }
  // both replicas served some: the limit is shared, not split or duplicated
  const headers = admitted(results).map((x) => x.headers);
  expect(headers.every((h) => h['x-ratelimit-limit-requests'] === '50' && /^(59m\d+s|1h0m0s)$/.test(h['x-ratelimit-reset-requests']!))).toBe(true);
  // requests outside the subtree are not limited
  expect(await a.admit('/other', null)).toBeNull();
});

it('keeps a window across a restart: a new process continues from what the old one admitted', async () => {
  await rule('/restart', 3600, 30);
  const first = await replica();
  expect(admitted(await Promise.all(Array.from({ length: 20 }, () => attempt(first, '/restart')))).length).toBe(20);
  await stopReplica(first);
  const second = await replica();
  const results = await Promise.all(Array.from({ length: 20 }, () => attempt(second, '/restart')));
  expect(admitted(results).length).toBe(10);
  await sleep(200);
  const [state] = await store.states(Date.now());
  expect(state!.requests).toBe(30);
});

it('gives an idle lease back, so another replica can use the whole remaining limit', async () => {
  await rule('/idle', 3600, 64);
  const [a, b] = [await replica(), await replica()];
  // a's leases grow to a sixteenth of the limit (4) while requests keep coming
  for (let i = 0; i < 6; i++) expect(await attempt(a, '/idle')).not.toBeInstanceOf(GatewayError);
  await sleep(3500); // idle for a second, given back at the next two-second maintenance
  const results = [];
  for (let i = 0; i < 70; i++) results.push(await attempt(b, '/idle'));
  expect(admitted(results).length).toBe(58);
});

it('caps requests in flight across replicas and frees a slot when a request ends', async () => {
  await rule('/conc', 0, 3);
  const [a, b] = [await replica(), await replica()];
  const held = admitted([await attempt(a, '/conc'), await attempt(b, '/conc'), await attempt(a, '/conc')]);
  expect(held.length).toBe(3);
  const [refusedA, refusedB] = [await attempt(a, '/conc'), await attempt(b, '/conc')];
  for (const e of [refusedA, refusedB]) {
    expect(e).toBeInstanceOf(GatewayError);
    expect((e as GatewayError).message).toBe('rate limit exceeded for user path /conc: at most 3 requests in flight at once');
    expect((e as GatewayError).headers!['Retry-After']).toBe('1');
  }
  // a slot freed on a is used on a at once; b waits until a gives its idle slot back
  a.finish(held[0]!, 0);
  expect(await attempt(a, '/conc')).not.toBeInstanceOf(GatewayError);
  expect(await attempt(b, '/conc')).toBeInstanceOf(GatewayError);
  a.finish(held[2]!, 0);
  await sleep(3500);
  expect(await attempt(b, '/conc')).not.toBeInstanceOf(GatewayError);
  const [state] = await store.states(Date.now());
  expect(state!.inFlight).toBeGreaterThanOrEqual(2);
});

it('counts tokens when requests complete, on every replica, and refuses once the window is spent', async () => {
  await rule('/tok', 3600, null, 100);
  const [a, b] = [await replica(), await replica()];
  const first = (await attempt(a, '/tok')) as Admission;
  const second = (await attempt(b, '/tok')) as Admission;
  expect(first.headers['x-ratelimit-limit-tokens']).toBe('100');
  expect(first.headers['x-ratelimit-remaining-tokens']).toBe('100');
  a.finish(first, 60);
  b.finish(second, 50);
  await sleep(400); // a few sync intervals: each replica writes its tokens and reads the other's
  for (const r of [a, b]) {
    const e = await attempt(r, '/tok');
    expect(e).toBeInstanceOf(GatewayError);
    expect((e as GatewayError).message).toBe('rate limit exceeded for user path /tok: 100 tokens per hour');
    expect((e as GatewayError).headers!['x-ratelimit-remaining-tokens']).toBe('0');
  }
  const [state] = await store.states(Date.now());
  expect([state!.requests, state!.tokens]).toEqual([2, 110]);
});

it('starts afresh after a reset on every replica, and in a new window after the period', async () => {
  await rule('/win', 2, 5);
  const [a, b] = [await replica(), await replica()];
  const take = async () => admitted(await Promise.all(Array.from({ length: 10 }, (_, i) => attempt(i % 2 ? a : b, '/win')))).length;
  expect(await take()).toBe(5);
  await store.reset({ scope: 'user_path', subject: '/win', periodSeconds: 2 });
  await sleep(200); // the notification reaches both
  expect(await take()).toBe(5);
  await sleep(2100);
  expect(await take()).toBe(5);
});

it('a replica that has not yet heard of a reset takes nothing from the window before it', async () => {
  await rule('/lag', 3600, 10);
  const a = await replica();
  // Loaded once and never listening: its notification of the reset is "still on the way".
  const pool = connect(db.url, 4, { asyncCommit: true });
  const deaf = new RateLimiter(pool, new RateLimitStore(pool), { leaseTtlMs: 3000, syncMs: 50 }, log);
  running.push({ limiter: deaf, pool });
  await deaf.refresh();
  expect(admitted([await attempt(deaf, '/lag')]).length).toBe(1);
  await store.reset({ scope: 'user_path', subject: '/lag', periodSeconds: 3600 });
  await sleep(200); // a hears of it
  const results = await Promise.all(Array.from({ length: 40 }, (_, i) => attempt(i % 2 ? a : deaf, '/lag')));
  expect(admitted(results).length).toBe(10);
});

it('answers 503 rate_limit_check_failed, not a 500, when PostgreSQL has no connection to give (too many clients)', async () => {
  await rule('/crowded', 3600, 10);
  // A role PostgreSQL lets make no connection: every one is refused with SQLSTATE 53300.
  const role = `gm_crowded_${process.pid}`;
  await sql.unsafe(`drop role if exists ${role}`);
  await sql.unsafe(`create role ${role} login connection limit 0`);
  const url = new URL(db.url);
  url.username = role;
  const pool = connect(url.toString(), 2);
  const limiter = new RateLimiter(pool, store, { leaseTtlMs: 3000, syncMs: 50 }, log);
  running.push({ limiter, pool });
  try {
    await limiter.refresh();
    const refused = await attempt(limiter, '/crowded');
    expect(refused).toBeInstanceOf(GatewayError);
    expect([(refused as GatewayError).status, (refused as GatewayError).code]).toEqual([503, 'rate_limit_check_failed']);
  } finally {
    await stopReplica(limiter).catch(() => {});
    await sql.unsafe(`drop role if exists ${role}`);
  }
});

it('limits the requests of one key, whatever their path', async () => {
  const key = '6f1c1f4e-8a43-4c55-9d0b-2b7f0c1a9e11';
  await sql`insert into auth_keys (id, name, secret_hash, secret_tail) values (${key}, 'k', '\\x00', 'abcd')`;
  await rule(key, 3600, 3, null, 'auth_key');
  const a = await replica();
  const results = [];
  for (const path of ['/a', '/b', '/c', '/d']) results.push(await attempt(a, path, key));
  expect(admitted(results).length).toBe(3);
  expect((results[3] as GatewayError).message).toBe(`rate limit exceeded for API key ${key}: 3 requests per hour`);
  expect(await a.admit('/a', null)).toBeNull();
});

it('counts the tokens of requests that finish after their rule changed, however many finish together', async () => {
  await rule('/changed', 3600, null, 1_000_000);
  const limiter = await replica();
  const inFlight = admitted(await Promise.all(Array.from({ length: 5 }, () => attempt(limiter, '/changed'))));
  expect(inFlight.length).toBe(5);
  // A new cap gives the window's lease back; the five finish against the lease they were admitted on.
  await store.upsert({ scope: 'user_path', subject: '/changed', periodSeconds: 3600 }, null, 2_000_000, 'manual');
  await sleep(300);
  for (const a of inFlight) limiter.finish(a, 10);
  await sleep(300);
  const [state] = await store.states(Date.now());
  expect(state!.tokens).toBe(50);
});
