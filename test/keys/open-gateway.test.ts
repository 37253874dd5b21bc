import { afterAll, beforeAll, expect, it } from 'vitest';
import * as admin from '../../generated/sdk.gen.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { http, HttpResponse, jsonFixture, mockProviders, realFetch } from '../support/providers.ts';

const OPENAI = 'https://api.openai.com/v1';
const msw = mockProviders();
let gw: TestGateway;

beforeAll(async () => {
  msw.use(
    http.get(`${OPENAI}/models`, () => HttpResponse.json(jsonFixture('openai/models.json'))),
    http.post(`${OPENAI}/chat/completions`, () => HttpResponse.json(jsonFixture('openai/chat.json'))),
  );
  gw = await startTestGateway({ OPENAI_API_KEY: 'sk-upstream' });
});
afterAll(async () => {
  await gw.stop();
  msw.close();
});

const chat = (headers: Record<string, string> = {}) =>
  realFetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as { error?: { message: string } } }));

it('without a master key, /v1 is open until the first managed key exists, then needs a key; /admin stays open', async () => {
  expect((await chat({ 'X-Request-ID': 'open-1' })).status).toBe(200);
  const key = (await admin.createAuthKey({ client: gw.client, body: { name: 'first', user_path: '/first' } })).data!;
  expect(await chat()).toMatchObject({ status: 401, body: { error: { message: 'missing authorization header' } } });
  expect((await chat({ Authorization: 'Bearer anything' })).status).toBe(401);
  expect((await chat({ Authorization: `Bearer ${key.value}`, 'X-Request-ID': 'open-2' })).status).toBe(200);
  expect((await realFetch(`${gw.url}/admin/usage/summary`)).status).toBe(200);
  expect((await realFetch(`${gw.url}/admin/usage/summary`, { headers: { Authorization: `Bearer ${key.value}` } })).status).toBe(403);

  await gw.recorder.flush();
  const rows = await gw.sql<{ request_id: string; auth_method: string; user_path: string }[]>`
    select request_id, auth_method, user_path from usage where request_id like 'open-%' order by request_id`;
  expect(rows).toEqual([
    { request_id: 'open-1', auth_method: 'no_key', user_path: '/' },
    { request_id: 'open-2', auth_method: 'api_key', user_path: '/first' },
  ]);

  // deleting the last key opens /v1 again
  await admin.deleteAuthKey({ client: gw.client, path: { id: key.id } });
  expect((await chat()).status).toBe(200);
});
