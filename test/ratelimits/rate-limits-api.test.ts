import { afterAll, beforeAll, expect, it } from 'vitest';
import * as api from '../../generated/sdk.gen.ts';
import { loadConfig } from '../../src/config.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { realFetch } from '../support/real-fetch.ts';

const MASTER = 'k-rate-limits';
let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway({
    GOMODEL_MASTER_KEY: MASTER,
    SET_RATE_LIMIT_TEAM__ALPHA: 'rpm=100,tpm=50000,rpd=10000,concurrent=10',
    SET_RATE_LIMIT_TEAM__BETA: '[{"period":"hour","max_tokens":900}]',
  });
});
afterAll(() => gw.stop());

const list = async () => (await api.listRateLimits({ client: gw.client })).data!;
const rows = async () => (await list()).rate_limits!.map((r) => [r.scope, r.subject, r.period_label, r.max_requests, r.max_tokens, r.source]);

async function call(method: string, path: string, body?: unknown) {
  const res = await realFetch(`${gw.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${MASTER}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

it('seeds config rules from SET_RATE_LIMIT_<PATH>, shorthand or JSON', async () => {
  expect(await rows()).toEqual([
    ['user_path', '/team/alpha', 'concurrent', 10, null, 'config'],
    ['user_path', '/team/alpha', 'minute', 100, 50000, 'config'],
    ['user_path', '/team/alpha', 'day', 10000, null, 'config'],
    ['user_path', '/team/beta', 'hour', null, 900, 'config'],
  ]);
  const minute = (await list()).rate_limits!.find((r) => r.period_label === 'minute')!;
  expect(minute).toMatchObject({ user_path: '/team/alpha', period_seconds: 60, requests_used: 0, requests_remaining: 100, tokens_used: 0, tokens_remaining: 50000, in_flight: 0 });
  expect(Date.parse(minute.window_end!) - Date.parse(minute.window_start!)).toBe(60_000);
  expect(Date.parse(minute.window_start!) % 60_000).toBe(0);
});

it('rejects rate limit settings it cannot honour, naming the variable', () => {
  expect(() => loadConfig({ SET_RATE_LIMIT_X: 'rpx=1' })).toThrow(/SET_RATE_LIMIT_X: unknown limit "rpx"/);
  expect(() => loadConfig({ SET_RATE_LIMIT_X: 'rpm=0' })).toThrow(/SET_RATE_LIMIT_X: max_requests must be a positive integer/);
  expect(() => loadConfig({ SET_RATE_LIMIT_X: '[{"period":"concurrent","max_tokens":5}]' })).toThrow(/concurrent limit caps requests in flight/);
  expect(() => loadConfig({ SET_PROVIDER_RATE_LIMIT_OPENAI: 'rpm=5' })).toThrow(/provider rate limits are not supported/);
});

it('creates, changes, resets and deletes manual rules; config never overwrites them', async () => {
  const put = await api.upsertRateLimit({ client: gw.client, body: { user_path: '/team/alpha', limit_key: { period: 'minute' }, max_requests: 7 } });
  expect(put.data!.rate_limits!.find((r) => r.period_label === 'minute' && r.subject === '/team/alpha')).toMatchObject({ max_requests: 7, max_tokens: null, source: 'manual' });
  const custom = await api.upsertRateLimit({ client: gw.client, body: { subject: '/x', limit_key: { period_seconds: 30 }, max_tokens: 5 } });
  expect(custom.data!.rate_limits!.find((r) => r.subject === '/x')).toMatchObject({ period_label: '30s', max_tokens: 5 });

  const reset = await api.resetRateLimit({ client: gw.client, body: { user_path: '/x', period_seconds: 30 } });
  const x = reset.data!.rate_limits!.find((r) => r.subject === '/x')!;
  expect(Math.abs(Date.parse(x.window_start!) - Date.now())).toBeLessThan(5000);

  expect((await api.resetAllRateLimits({ client: gw.client, body: { confirmation: 'reset' } })).data).toEqual({ status: 'ok' });
  expect((await call('POST', '/admin/rate-limits/reset', {})).status).toBe(400);

  const del = await api.deleteRateLimit({ client: gw.client, body: { user_path: '/x', limit_key: { period_seconds: 30 } } });
  expect(del.data!.rate_limits!.some((r) => r.subject === '/x')).toBe(false);
  expect(await call('DELETE', '/admin/rate-limits', { user_path: '/x', limit_key: { period_seconds: 30 } })).toMatchObject({ status: 404, body: { code: 'rate_limit_not_found' } });
});

it('scopes a rule to a managed key that exists', async () => {
  const key = (await api.createAuthKey({ client: gw.client, body: { name: 'limited' } })).data!;
  const put = await api.upsertRateLimit({ client: gw.client, body: { scope: 'auth_key', subject: key.id, limit_key: { period: 'hour' }, max_requests: 5 } });
  expect(put.data!.rate_limits!.find((r) => r.scope === 'auth_key')).toMatchObject({ subject: key.id, period_label: 'hour', max_requests: 5 });
  expect(await call('PUT', '/admin/rate-limits', { scope: 'auth_key', subject: '00000000-0000-4000-8000-000000000000', limit_key: { period: 'hour' }, max_requests: 5 }))
    .toMatchObject({ status: 400, body: { code: 'auth_key_not_found' } });
  // deleting the key deletes its rules
  await api.deleteAuthKey({ client: gw.client, path: { id: key.id } });
  expect((await list()).rate_limits!.some((r) => r.scope === 'auth_key')).toBe(false);
});

it('refuses bad rules with a clear 400', async () => {
  const bad = (body: unknown) => call('PUT', '/admin/rate-limits', body);
  expect(await bad({ user_path: '/a', limit_key: { period: 'fortnight' }, max_requests: 1 })).toMatchObject({ status: 400, body: { param: 'limit_key.period' } });
  expect(await bad({ user_path: '/a', limit_key: { period: 'minute', period_seconds: 60 }, max_requests: 1 })).toMatchObject({ status: 400 });
  expect(await bad({ user_path: '/a', limit_key: { period: 'minute' } })).toMatchObject({ status: 400, body: { param: 'max_requests' } });
  expect(await bad({ user_path: '/a', limit_key: { period: 'concurrent' }, max_tokens: 3 })).toMatchObject({ status: 400, body: { param: 'max_tokens' } });
  expect(await bad({ user_path: '/a', limit_key: { period: 'minute' }, max_requests: 0 })).toMatchObject({ status: 400 });
  expect(await bad({ scope: 'provider', user_path: '/a', limit_key: { period: 'minute' }, max_requests: 1 })).toMatchObject({ status: 400 });
});
