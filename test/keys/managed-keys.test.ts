import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as admin from '../../generated/sdk.gen.ts';
import type { AdminCreateAuthKeyRequest } from '../../generated/types.gen.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { http, HttpResponse, jsonFixture, mockProviders, realFetch } from '../support/providers.ts';

const MASTER = 'sk-master-managed-keys';
const OPENAI = 'https://api.openai.com/v1';
const msw = mockProviders();
let gw: TestGateway;
let upstreamCalls = 0;

beforeAll(async () => {
  msw.use(
    http.get(`${OPENAI}/models`, () => HttpResponse.json(jsonFixture('openai/models.json'))),
    http.post(`${OPENAI}/chat/completions`, () => {
      upstreamCalls++;
      return HttpResponse.json(jsonFixture('openai/chat.json'));
    }),
  );
  gw = await startTestGateway({ GOMODEL_MASTER_KEY: MASTER, OPENAI_API_KEY: 'sk-upstream', USAGE_FLUSH_INTERVAL: '100ms', TAGGING_HEADER_1: 'X-Labels' });
});
afterAll(async () => {
  await gw.stop();
  msw.close();
});

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };

async function newKey(body: AdminCreateAuthKeyRequest) {
  const { data, response } = await admin.createAuthKey({ client: gw.client, body });
  expect(response.status).toBe(201);
  return data!;
}

const sdk = (apiKey: string, headers: Record<string, string> = {}) =>
  new OpenAI({ apiKey, baseURL: `${gw.url}/v1`, maxRetries: 0, fetch: realFetch, defaultHeaders: headers });

async function post(path: string, headers: Record<string, string>, body: unknown = chat) {
  const res = await realFetch(`${gw.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as { error?: { code: string | null; message: string; type: string } } };
}

async function rowOf(requestId: string) {
  await gw.recorder.flush();
  const [row] = await gw.sql<{ user_path: string; labels: string[]; auth_key_id: string | null; auth_method: string }[]>`
    select user_path, labels, auth_key_id, auth_method from usage where request_id = ${requestId}`;
  return row;
}

describe('a managed key on /v1', () => {
  it('works as the apiKey of the openai SDK: its path, labels and id go on the usage row', async () => {
    const key = await newKey({ name: 'sdk', user_path: '/team/alpha', labels: ['from-key'] });
    const { response } = await sdk(key.value, { 'X-Request-ID': 'mk-sdk', 'X-Labels': 'from-header' }).chat.completions.create(chat).withResponse();
    expect(response.status).toBe(200);
    expect(await rowOf('mk-sdk')).toEqual({ user_path: '/team/alpha', labels: ['from-key', 'from-header'], auth_key_id: key.id, auth_method: 'api_key' });
  });

  it('is accepted in x-api-key, as Anthropic SDKs send it', async () => {
    const key = await newKey({ name: 'anthropic-style', user_path: '/team/anthropic' });
    const res = await post('/v1/chat/completions', { 'x-api-key': key.value, 'X-Request-ID': 'mk-xapi' });
    expect(res.status).toBe(200);
    expect(await rowOf('mk-xapi')).toMatchObject({ user_path: '/team/anthropic', auth_key_id: key.id, auth_method: 'api_key' });
  });

  it('lets the user-path header narrow the key’s path, and refuses a path outside it with 403 before the provider is called', async () => {
    const key = await newKey({ name: 'narrow', user_path: '/team/beta' });
    expect((await post('/v1/chat/completions', { Authorization: `Bearer ${key.value}`, 'X-GoModel-User-Path': '/team/beta/search', 'X-Request-ID': 'mk-narrow' })).status).toBe(200);
    expect((await rowOf('mk-narrow'))!.user_path).toBe('/team/beta/search');
    const before = upstreamCalls;
    for (const outside of ['/team', '/team/beta-x', '/team/alpha', '/']) {
      const res = await post('/v1/chat/completions', { Authorization: `Bearer ${key.value}`, 'X-GoModel-User-Path': outside });
      expect(res.status, outside).toBe(403);
      expect(res.body.error).toMatchObject({ code: 'user_path_forbidden', type: 'invalid_request_error' });
    }
    expect(upstreamCalls).toBe(before);
  });

  it('records the master key’s requests as master_key, with the header’s path', async () => {
    expect((await post('/v1/chat/completions', { Authorization: `Bearer ${MASTER}`, 'X-GoModel-User-Path': '/ops', 'X-Request-ID': 'mk-master' })).status).toBe(200);
    expect(await rowOf('mk-master')).toMatchObject({ user_path: '/ops', auth_key_id: null, auth_method: 'master_key' });
  });

  it('refuses deactivated, expired, rotated-out and unknown keys with 401 and a code that says which', async () => {
    const gone = await newKey({ name: 'gone' });
    await admin.deactivateAuthKey({ client: gw.client, path: { id: gone.id } });
    const soon = await newKey({ name: 'soon', expires_at: new Date(Date.now() + 1500).toISOString() });
    const rotating = await newKey({ name: 'rotating' });
    const rotated = (await admin.rotateAuthKey({ client: gw.client, path: { id: rotating.id }, body: { grace_seconds: 0 } })).data!;
    const graced = await newKey({ name: 'graced' });
    await admin.rotateAuthKey({ client: gw.client, path: { id: graced.id }, body: { grace_seconds: 600 } });
    const code = async (key: string) => {
      const res = await post('/v1/chat/completions', { Authorization: `Bearer ${key}` });
      return res.status === 200 ? 200 : `${res.status} ${res.body.error!.code ?? res.body.error!.message}`;
    };
    expect(await code(gone.value)).toBe('401 auth_key_deactivated');
    expect(await code(soon.value)).toBe(200);
    expect(await code(rotating.value)).toBe('401 auth_key_rotated');
    expect(await code(rotated.value)).toBe(200);
    expect(await code(graced.value)).toBe(200);
    expect(await code('sk_gom_not-a-key')).toBe('401 invalid API key');
    await new Promise((r) => setTimeout(r, 1600));
    expect(await code(soon.value)).toBe('401 auth_key_expired');
  });
});

describe('a managed key on /admin', () => {
  it('needs dashboard_access: others get 403 dashboard_access_denied; the master key always passes', async () => {
    const plain = await newKey({ name: 'plain' });
    const dash = await newKey({ name: 'dash', dashboard_access: true });
    const get = async (key: string) => (await realFetch(`${gw.url}/admin/usage/summary`, { headers: { Authorization: `Bearer ${key}` } })).status;
    const denied = await realFetch(`${gw.url}/admin/auth-keys`, { headers: { Authorization: `Bearer ${plain.value}` } });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { code: string }).code).toBe('dashboard_access_denied');
    expect(await get(plain.value)).toBe(403);
    expect(await get(dash.value)).toBe(200);
    expect(await get(MASTER)).toBe(200);
    await admin.updateAuthKeyDashboardAccess({ client: gw.client, path: { id: plain.id }, body: { dashboard_access: true } });
    expect(await get(plain.value)).toBe(200);
  });
});

describe('rate limits on /v1', () => {
  it('answer 429 rate_limit_exceeded with Retry-After and x-ratelimit headers the openai SDK reads', async () => {
    const key = await newKey({ name: 'limited', user_path: '/limited' });
    await admin.upsertRateLimit({ client: gw.client, body: { scope: 'auth_key', subject: key.id, limit_key: { period: 'hour' }, max_requests: 3, max_tokens: 1_000_000 } });
    const client = sdk(key.value);
    const first = await client.chat.completions.create(chat).withResponse();
    expect(first.response.headers.get('x-ratelimit-limit-requests')).toBe('3');
    expect(first.response.headers.get('x-ratelimit-remaining-requests')).toBe('2');
    // OpenAI's duration format; the hour is the epoch-aligned one holding now
    const reset = /^(?:(\d+)m)?(\d+)s$/.exec(first.response.headers.get('x-ratelimit-reset-requests')!)!;
    expect(Number(reset[1] ?? 0) * 60 + Number(reset[2])).toBeLessThanOrEqual(3600);
    expect(first.response.headers.get('x-ratelimit-limit-tokens')).toBe('1000000');
    await client.chat.completions.create(chat);
    await client.chat.completions.create(chat);
    const before = upstreamCalls;
    const refused = await client.chat.completions.create(chat).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    const e = refused as InstanceType<typeof OpenAI.RateLimitError>;
    expect(e.code).toBe('rate_limit_exceeded');
    const retryAfter = Number(e.headers?.get('retry-after'));
    expect(Math.abs(retryAfter - (Number(reset[1] ?? 0) * 60 + Number(reset[2])))).toBeLessThanOrEqual(2);
    expect(e.headers?.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(upstreamCalls).toBe(before);
    // the master key is not this key: its requests on the same path pass
    expect((await post('/v1/chat/completions', { Authorization: `Bearer ${MASTER}`, 'X-GoModel-User-Path': '/limited' })).status).toBe(200);
  });

  it('shows the caller its own path, budgets and rate limits on GET /v1/usage', async () => {
    const key = await newKey({ name: 'self', user_path: '/self/service' });
    await admin.upsertRateLimit({ client: gw.client, body: { user_path: '/self', limit_key: { period: 'minute' }, max_requests: 100 } });
    await admin.upsertRateLimit({ client: gw.client, body: { user_path: '/elsewhere', limit_key: { period: 'minute' }, max_requests: 100 } });
    // A reset anchors the window now, so no minute boundary falls inside the test.
    await admin.resetRateLimit({ client: gw.client, body: { user_path: '/self', period: 'minute' } });
    await post('/v1/chat/completions', { Authorization: `Bearer ${key.value}` });
    const res = await realFetch(`${gw.url}/v1/usage`, { headers: { Authorization: `Bearer ${key.value}`, 'X-GoModel-User-Path': '/elsewhere' } });
    expect(res.status).toBe(403);
    type Mine = { user_path: string; rate_limits: { subject: string; requests_used: number; requests_remaining: number; exhausted: boolean }[] };
    const mine = async () => (await (await realFetch(`${gw.url}/v1/usage`, { headers: { Authorization: `Bearer ${key.value}` } })).json()) as Mine;
    // The limiter writes its counts every 250 ms.
    await expect.poll(async () => (await mine()).rate_limits[0]?.requests_used).toBe(1);
    const seen = await mine();
    expect(seen.user_path).toBe('/self/service');
    expect(seen.rate_limits).toEqual([expect.objectContaining({ subject: '/self', requests_used: 1, requests_remaining: 99, exhausted: false })]);
  });
});

describe('usage by key', () => {
  it('filters every usage endpoint by auth_key_id', async () => {
    const key = await newKey({ name: 'counted', user_path: '/counted' });
    for (let i = 0; i < 3; i++) await post('/v1/chat/completions', { Authorization: `Bearer ${key.value}` });
    await post('/v1/chat/completions', { Authorization: `Bearer ${MASTER}`, 'X-GoModel-User-Path': '/counted' });
    await gw.recorder.flush();
    const query = { auth_key_id: key.id };
    expect((await admin.getUsageSummary({ client: gw.client, query })).data!.total_requests).toBe(3);
    expect((await admin.getUsageLog({ client: gw.client, query })).data!.total).toBe(3);
    expect((await admin.getUserPathUsage({ client: gw.client, query })).data!.map((r) => r.user_path)).toEqual(['/counted']);
    expect((await admin.getDailyUsage({ client: gw.client, query })).data!.reduce((n, d) => n + d.requests!, 0)).toBe(3);
    expect((await admin.getModelUsage({ client: gw.client, query })).data!.length).toBe(1);
    const entry = (await admin.getUsageLog({ client: gw.client, query })).data!.entries![0]!;
    expect(entry).toMatchObject({ auth_key_id: key.id, auth_method: 'api_key' });
  });
});
