import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { http, HttpResponse, jsonFixture, mockProviders, realFetch } from '../support/providers.ts';

const msw = mockProviders();
let gw: TestGateway;

beforeAll(async () => {
  msw.use(
    http.get('https://api.openai.com/v1/models', () => HttpResponse.json(jsonFixture('openai/models.json'))),
    http.post('https://api.openai.com/v1/chat/completions', () => HttpResponse.json(jsonFixture('openai/chat.json'))),
  );
  gw = await startTestGateway({ OPENAI_API_KEY: 'sk-test', METRICS_ENABLED: 'true', GOMODEL_MASTER_KEY: 'k' });
});
afterAll(async () => {
  await gw.stop();
  msw.close();
});

it('exposes Prometheus metrics without auth: requests, latency, in-flight and the usage queue', async () => {
  const sdk = new OpenAI({ apiKey: 'k', baseURL: `${gw.url}/v1`, maxRetries: 0, fetch: realFetch });
  await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
  await sdk.chat.completions.create({ model: 'gpt-9', messages: [{ role: 'user', content: 'x' }] }).catch(() => {});
  await gw.recorder.flush();
  const res = await realFetch(`${gw.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  const text = await res.text();
  expect(text).toContain('gomodel_requests_total{provider="openai",model="gpt-4o-mini",endpoint="/v1/chat/completions",status_code="200",stream="false"} 1');
  expect(text).toMatch(/gomodel_request_duration_seconds_count\{provider="openai",model="gpt-4o-mini",endpoint="\/v1\/chat\/completions",stream="false"\} 1/);
  expect(text).toContain('gomodel_requests_in_flight{provider="openai",endpoint="/v1/chat/completions",stream="false"} 0');
  expect(text).toContain('gomodel_usage_queue_depth 0');
  expect(text).toContain('gomodel_usage_rows_written_total 1');
  expect(text).toContain('gomodel_usage_rows_lost_total 0');
  expect(text).toContain('gomodel_usage_database_down 0');
});

it('asks for the master key with METRICS_AUTH=true', async () => {
  const guarded = await startTestGateway({ METRICS_ENABLED: 'true', METRICS_AUTH: 'true', GOMODEL_MASTER_KEY: 'k' });
  const without = await realFetch(`${guarded.url}/metrics`);
  expect(without.status).toBe(401);
  expect(await without.json()).toMatchObject({ error: { type: 'authentication_error', message: 'missing authorization header' } });
  expect((await realFetch(`${guarded.url}/metrics`, { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
  const authorized = await realFetch(`${guarded.url}/metrics`, { headers: { Authorization: 'Bearer k' } });
  expect(authorized.status).toBe(200);
  expect(await authorized.text()).toContain('gomodel_usage_queue_depth');
  await guarded.stop();
});

it('is not served when METRICS_ENABLED is off', async () => {
  const plain = await startTestGateway({ OPENAI_API_KEY: 'sk-test' });
  expect((await realFetch(`${plain.url}/metrics`)).status).toBe(404);
  await plain.stop();
});
