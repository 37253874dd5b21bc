import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as api from '../../generated/sdk.gen.ts';
import type { AdminCreateAuthKeyRequest } from '../../generated/types.gen.ts';
import { connect, type Sql } from '../../src/db/sql.ts';
import { createLogger } from '../../src/log.ts';
import { KeyRing } from '../../src/keys/ring.ts';
import { AuthKeyStore } from '../../src/keys/store.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { realFetch } from '../support/real-fetch.ts';

const MASTER = 'k-auth-keys';
let gw: TestGateway;
/** A second process's view of the keys: its own pool and its own notification listener. */
let otherPool: Sql;
let other: KeyRing;

beforeAll(async () => {
  gw = await startTestGateway({ GOMODEL_MASTER_KEY: MASTER });
  otherPool = connect(urlOf(gw), 2);
  other = new KeyRing(otherPool, new AuthKeyStore(otherPool), createLogger('silent'));
  await other.start();
});
afterAll(async () => {
  await other.stop();
  await otherPool.end({ timeout: 1 });
  await gw.stop();
});

function urlOf(g: TestGateway): string {
  const o = g.sql.options as unknown as { host: string[]; port: number[]; user: string; database: string };
  return `postgres://${o.user}@${o.host[0]}:${o.port[0]}/${o.database}`;
}

const client = () => gw.client;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function create(body: AdminCreateAuthKeyRequest) {
  const res = await api.createAuthKey({ client: client(), body });
  expect(res.response.status).toBe(201);
  return res.data!;
}

/** Polls until `check` holds, for at most a second: how fast a change must reach another process. */
async function withinASecond(check: () => boolean): Promise<number> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > 1000) throw new Error('not propagated within one second');
    await sleep(5);
  }
  return Date.now() - start;
}

it('issues a key once: the secret is returned at creation, stored only as its SHA-256 digest, and listed redacted', async () => {
  const key = await create({ name: 'alpha-ci', description: 'CI of team alpha', user_path: 'team/alpha/', labels: ['ci', 'alpha'], expires_at: '2099-01-01T00:00:00Z' });
  expect(key.value).toMatch(/^sk_gom_[A-Za-z0-9_-]{43}$/);
  expect(key).toMatchObject({
    name: 'alpha-ci', description: 'CI of team alpha', user_path: '/team/alpha', labels: ['ci', 'alpha'], dashboard_access: false,
    enabled: true, active: true, redacted_value: `sk_gom_…${key.value.slice(-4)}`, expires_at: '2099-01-01T00:00:00.000Z',
    deactivated_at: null, last_used_at: null, rotated_at: null, previous_value_expires_at: null,
  });
  const [row] = await gw.sql<{ secret_hash: Buffer }[]>`select * from auth_keys where id = ${key.id}`;
  expect(row!.secret_hash.equals(createHash('sha256').update(key.value).digest())).toBe(true);
  expect(JSON.stringify(await gw.sql`select * from auth_keys`)).not.toContain(key.value.slice(7));

  const list = (await api.listAuthKeys({ client: client() })).data!;
  const listed = list.find((k) => k.id === key.id)!;
  expect(listed.redacted_value).toBe(key.redacted_value);
  expect(JSON.stringify(list)).not.toContain(key.value);
  expect('value' in listed).toBe(false);
});

it('refuses bad key definitions with a clear 400', async () => {
  const bad = async (body: unknown) => {
    const res = await realFetch(`${gw.url}/admin/auth-keys`, { method: 'POST', headers: { Authorization: `Bearer ${MASTER}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as { param?: string; message: string } };
  };
  expect(await bad({})).toMatchObject({ status: 400 });
  expect(await bad({ name: '  ' })).toMatchObject({ status: 400, body: { param: 'name' } });
  expect(await bad({ name: 'x', user_path: '/a/../b' })).toMatchObject({ status: 400, body: { param: 'user_path' } });
  expect(await bad({ name: 'x', expires_at: 'tomorrow' })).toMatchObject({ status: 400, body: { param: 'expires_at' } });
  expect(await bad({ name: 'x', expires_at: '2001-01-01T00:00:00Z' })).toMatchObject({ status: 400, body: { message: 'expires_at must be in the future' } });
  expect(await bad({ name: 'x', secret: 'mine' })).toMatchObject({ status: 400 });
});

it('a new key, a relabel, a rotation, a deactivation and a deletion reach another process within a second', async () => {
  const key = await create({ name: 'replicated', user_path: '/team/beta', labels: ['one'] });
  const now = () => Date.now();
  await withinASecond(() => (other.check(key.value, now()) as { id?: string } | null)?.id === key.id);
  expect(other.required).toBe(true);

  const relabelled = await api.updateAuthKeyLabels({ client: client(), path: { id: key.id }, body: { labels: ['two', 'three'] } });
  expect(relabelled.data!.labels).toEqual(['two', 'three']);
  await withinASecond(() => JSON.stringify((other.check(key.value, now()) as { labels?: string[] }).labels) === '["two","three"]');

  const access = await api.updateAuthKeyDashboardAccess({ client: client(), path: { id: key.id }, body: { dashboard_access: true } });
  expect(access.data!.dashboard_access).toBe(true);
  await withinASecond(() => (other.check(key.value, now()) as { dashboardAccess?: boolean }).dashboardAccess === true);

  const rotated = (await api.rotateAuthKey({ client: client(), path: { id: key.id }, body: { grace_seconds: 1 } })).data!;
  expect(rotated.value).not.toBe(key.value);
  expect(rotated.redacted_value).toBe(`sk_gom_…${rotated.value.slice(-4)}`);
  expect(Date.parse(rotated.previous_value_expires_at!) - Date.parse(rotated.rotated_at!)).toBe(1000);
  await withinASecond(() => (other.check(rotated.value, now()) as { id?: string } | null)?.id === key.id);
  // the old secret works through its grace, then is refused with its own code
  expect((other.check(key.value, now()) as { id?: string }).id).toBe(key.id);
  expect(other.check(key.value, now() + 1500)).toMatchObject({ refused: 'auth_key_rotated' });

  expect((await api.deactivateAuthKey({ client: client(), path: { id: key.id } })).response.status).toBe(204);
  await withinASecond(() => (other.check(rotated.value, now()) as { refused?: string }).refused === 'auth_key_deactivated');
  const listed = (await api.listAuthKeys({ client: client() })).data!.find((k) => k.id === key.id)!;
  expect([listed.enabled, listed.active, typeof listed.deactivated_at]).toEqual([false, false, 'string']);
  const again = await api.rotateAuthKey({ client: client(), path: { id: key.id }, body: {} });
  expect(again.response.status).toBe(400);

  expect((await api.deleteAuthKey({ client: client(), path: { id: key.id } })).response.status).toBe(204);
  await withinASecond(() => other.check(rotated.value, now()) === null);
  expect((await api.listAuthKeys({ client: client() })).data!.some((k) => k.id === key.id)).toBe(false);
});

it('refuses an expired key with its own code', async () => {
  const key = await create({ name: 'short-lived', expires_at: new Date(Date.now() + 60_000).toISOString() });
  await withinASecond(() => other.check(key.value, Date.now()) !== null);
  expect(other.check(key.value, Date.now() + 61_000)).toMatchObject({ refused: 'auth_key_expired' });
});

it('answers 404 for a key that does not exist and 400 for an id that cannot be one', async () => {
  const call = async (id: string) => {
    const res = await realFetch(`${gw.url}/admin/auth-keys/${id}/deactivate`, { method: 'POST', headers: { Authorization: `Bearer ${MASTER}` } });
    return { status: res.status, body: (await res.json()) as { code: string } };
  };
  expect(await call('00000000-0000-4000-8000-000000000000')).toMatchObject({ status: 404, body: { code: 'auth_key_not_found' } });
  expect((await call('not-a-uuid')).status).toBe(400);
});

it('records when a key was last used in batches, without a write per check', async () => {
  const key = await create({ name: 'used' });
  await withinASecond(() => other.check(key.value, Date.now()) !== null);
  const before = Date.now();
  for (let i = 0; i < 100; i++) other.check(key.value, Date.now());
  const [row] = await gw.sql<{ last_used_at: Date | null }[]>`select last_used_at from auth_keys where id = ${key.id}`;
  expect(row!.last_used_at).toBeNull();
  await other.flushUsed();
  const [after] = await gw.sql<{ last_used_at: Date }[]>`select last_used_at from auth_keys where id = ${key.id}`;
  expect(after!.last_used_at.getTime()).toBeGreaterThanOrEqual(before);
});
