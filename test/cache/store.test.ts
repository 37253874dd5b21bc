import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheKey, cacheTicket, canonicalJson, type CacheRequest } from '../../src/cache/policy.ts';
import { ResponseCache, type CacheEntry } from '../../src/cache/store.ts';
import type { CacheSettings } from '../../src/config.ts';
import { connect, type Sql } from '../../src/db/sql.ts';
import { createLogger } from '../../src/log.ts';
import { createTestDatabase } from '../support/gateway.ts';

const log = createLogger('silent');
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: Sql;

beforeAll(async () => {
  db = await createTestDatabase();
  sql = connect(db.url, 4);
});
afterAll(async () => {
  await sql.end({ timeout: 1 });
  await db.drop();
});

const settings = (over: Partial<CacheSettings> = {}): CacheSettings => ({
  enabled: true,
  ttlMs: 3_600_000,
  maxBytes: 1000,
  maxEntryBytes: 400,
  memoryBytes: 0,
  scope: 'caller',
  rules: [],
  sweepMs: 3_600_000,
  ...over,
});

const key = (name: string) => Buffer.from(name.padEnd(32, '.'));
const entry = (bytes: number, over: Partial<CacheEntry> = {}): CacheEntry => ({
  body: Buffer.alloc(bytes, 'x'),
  stream: false,
  model: 'gpt-4o-mini',
  providerId: 'chatcmpl-1',
  usage: null,
  endpoint: '/v1/chat/completions',
  provider: 'openai',
  routedModel: 'gpt-4o-mini',
  ttlMs: 3_600_000,
  ...over,
});
const rows = async () => Number((await sql`select count(*) as n from response_cache`)[0]!.n);

describe('the cache table', () => {
  it('keeps the stored bytes under CACHE_MAX_BYTES, evicting the least recently hit first', async () => {
    const cache = new ResponseCache(sql, settings(), log);
    for (const [i, name] of ['a', 'b', 'c'].entries()) {
      cache.store(key(name), entry(300));
      await expect.poll(() => cache.size().then((s) => s.entries)).toBe(i + 1);
    }
    // A hit makes `a` the most recently used: `b` is now the least.
    expect(await cache.lookup(key('a'))).toMatchObject({ body: Buffer.alloc(300, 'x'), stream: false, model: 'gpt-4o-mini', providerId: 'chatcmpl-1', usage: null });
    cache.store(key('d'), entry(300));
    await expect.poll(() => rows()).toBeGreaterThanOrEqual(3);
    await expect.poll(async () => (await cache.lookup(key('d'))) !== null).toBe(true);
    // A sweep may be under way from the writes: the second starts after `d` is in.
    await cache.sweep();
    await cache.sweep();
    expect(await cache.lookup(key('b'))).toBeNull();
    for (const name of ['a', 'c', 'd']) expect(await cache.lookup(key(name))).not.toBeNull();
    expect((await cache.size()).bytes).toBeLessThanOrEqual(1000);
    await cache.stop();
    await sql`delete from response_cache`;
  });

  it('stores no reply larger than CACHE_MAX_ENTRY_BYTES, answers nothing expired and sweeps it away', async () => {
    const cache = new ResponseCache(sql, settings(), log);
    cache.store(key('big'), entry(401));
    cache.store(key('short'), entry(10, { ttlMs: 1 }));
    cache.store(key('long'), entry(10));
    await expect.poll(() => rows()).toBe(2);
    expect(await cache.lookup(key('big'))).toBeNull();
    expect(await cache.lookup(key('short'))).toBeNull();
    expect(await cache.lookup(key('long'))).not.toBeNull();
    await cache.sweep();
    expect(await rows()).toBe(1);
    await cache.stop();
    await sql`delete from response_cache`;
  });

  it('keeps the entries a process served or stored last in memory, up to CACHE_MEMORY_BYTES, until they expire', async () => {
    const cache = new ResponseCache(sql, settings({ memoryBytes: 700, maxBytes: 1_000_000 }), log);
    cache.store(key('a'), entry(300));
    cache.store(key('b'), entry(300));
    cache.store(key('short'), entry(10, { ttlMs: 1 }));
    await expect.poll(() => rows()).toBe(3);
    // Gone from the table (another replica's sweep, say), still held here.
    await sql`delete from response_cache`;
    expect(await cache.lookup(key('a'))).toMatchObject({ body: Buffer.alloc(300, 'x') });
    // Past 700 bytes the least recently used goes: `b`, since `a` was just served.
    cache.store(key('c'), entry(300));
    expect(await cache.lookup(key('b'))).toBeNull();
    expect(await cache.lookup(key('a'))).not.toBeNull();
    expect(await cache.lookup(key('c'))).not.toBeNull();
    expect(await cache.lookup(key('short'))).toBeNull();
    await cache.stop();
    await sql`delete from response_cache`;
  });

  it('treats a database that does not answer as a miss', async () => {
    const dead = connect('postgres://postgres@127.0.0.1:1/none', 1);
    const cache = new ResponseCache(dead, settings(), log);
    expect(await cache.lookup(key('a'))).toBeNull();
    cache.store(key('a'), entry(10));
    await cache.stop();
    await dead.end({ timeout: 0 });
  });
});

describe('cache keys', () => {
  const req = (over: Partial<CacheRequest> = {}): CacheRequest => ({
    headers: { 'x-cache-type': 'exact' },
    userPath: '/team',
    authMethod: 'api_key',
    authKeyId: 'key-1',
    endpoint: '/v1/chat/completions',
    provider: 'openai',
    model: 'gpt-4o-mini',
    requested: 'gpt-4o-mini',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
    ...over,
  });

  it('are one for the same body in any key order, and differ by endpoint, route and body', () => {
    expect(canonicalJson({ b: [1, { d: 2, c: null }], a: 'x' })).toBe('{"a":"x","b":[1,{"c":null,"d":2}]}');
    const base = cacheKey('caller', req());
    expect(cacheKey('caller', req({ body: { messages: [{ content: 'hi', role: 'user' }], model: 'gpt-4o-mini' } }))).toEqual(base);
    for (const other of [req({ endpoint: '/v1/responses' }), req({ provider: 'openai-east' }), req({ model: 'gpt-4o' }), req({ body: { model: 'gpt-4o-mini', messages: [] } })]) {
      expect(cacheKey('caller', other)).not.toEqual(base);
    }
  });

  it('partition by key and user path (caller), by user path, or not at all (shared)', () => {
    const otherKey = req({ authKeyId: 'key-2' });
    const otherPath = req({ userPath: '/team/sub' });
    expect(cacheKey('caller', otherKey)).not.toEqual(cacheKey('caller', req()));
    expect(cacheKey('caller', otherPath)).not.toEqual(cacheKey('caller', req()));
    expect(cacheKey('user_path', otherKey)).toEqual(cacheKey('user_path', req()));
    expect(cacheKey('user_path', otherPath)).not.toEqual(cacheKey('user_path', req()));
    expect(cacheKey('shared', otherKey)).toEqual(cacheKey('shared', otherPath));
  });

  it('are taken only by requests that opt in or that a rule names, for the TTL they ask', () => {
    const s = settings({ rules: [{ userPath: '/faq' }, { model: 'openai/text-embedding-3-small', ttlMs: 60_000 }] });
    expect(cacheTicket(s, req({ headers: {} }))).toBeNull();
    expect(cacheTicket(s, req({ headers: { 'x-cache-ttl': '30' } }))?.ttlMs).toBe(30_000);
    expect(cacheTicket(s, req({ headers: {}, userPath: '/faq/x' }))?.ttlMs).toBe(3_600_000);
    expect(cacheTicket(s, req({ headers: {}, model: 'text-embedding-3-small' }))?.ttlMs).toBe(60_000);
    expect(cacheTicket(s, req({ headers: { 'x-cache-type': 'exact', 'cache-control': 'no-cache' } }))).toBeNull();
    expect(() => cacheTicket(s, req({ headers: { 'x-cache-ttl': '0' } }))).toThrow(/X-Cache-TTL/);
  });
});
