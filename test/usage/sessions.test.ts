import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as admin from '../../generated/sdk.gen.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { http, HttpResponse, jsonFixture, mockProviders, realFetch } from '../support/providers.ts';
import { usageRow } from '../support/usage-rows.ts';

const KEY = 'sk-sessions-master';
const OPENAI = 'https://api.openai.com/v1';
const ANTHROPIC = 'https://api.anthropic.com/v1';
const msw = mockProviders();
let gw: TestGateway;

const at = (iso: string) => new Date(iso);
const june = { start_date: '2026-06-01', end_date: '2026-06-02' };

beforeAll(async () => {
  msw.use(
    http.get(`${OPENAI}/models`, () => HttpResponse.json(jsonFixture('openai/models.json'))),
    http.get(`${ANTHROPIC}/models`, () => HttpResponse.json({ data: [{ id: 'claude-sonnet-4-5', type: 'model' }], has_more: false })),
    http.post(`${OPENAI}/chat/completions`, () => HttpResponse.json(jsonFixture('openai/chat.json'))),
    http.post(`${OPENAI}/embeddings`, () => HttpResponse.json(jsonFixture('openai/embeddings.json'))),
    http.post(`${OPENAI}/responses`, () => HttpResponse.json(jsonFixture('openai/responses.json'))),
    http.post(`${ANTHROPIC}/messages`, () => HttpResponse.json(jsonFixture('anthropic/message.json'))),
  );
  gw = await startTestGateway({ GOMODEL_MASTER_KEY: KEY, OPENAI_API_KEY: 'sk-upstream', ANTHROPIC_API_KEY: 'sk-ant-upstream', USAGE_FLUSH_INTERVAL: '100ms' });
  // Rows of two sessions (one under two user paths), a cache hit, an unpriced row and a row without a session.
  const rows = [
    usageRow({ request_id: 'a-1', timestamp: at('2026-06-01T08:00:00Z'), session_id: 's-a', user_path: '/team' }),
    usageRow({ request_id: 'a-2', timestamp: at('2026-06-01T09:00:00Z'), session_id: 's-a', user_path: '/team', labels: ['y'] }),
    usageRow({ request_id: 'a-hit', timestamp: at('2026-06-01T09:30:00Z'), session_id: 's-a', user_path: '/team', cache_type: 'exact' }),
    usageRow({ request_id: 'a-other', timestamp: at('2026-06-01T10:00:00Z'), session_id: 's-a', user_path: '/other', model: 'gpt-4o' }),
    usageRow({
      request_id: 'b-1', timestamp: at('2026-06-02T11:00:00Z'), session_id: 's-b', user_path: '/team', labels: ['x'],
      input_cost: null, output_cost: null, total_cost: null, cost_source: '', costs_calculation_caveat: 'no price',
    }),
    usageRow({ request_id: 'none-1', timestamp: at('2026-06-01T12:00:00Z'), user_path: '/team', labels: ['x'] }),
  ];
  for (const r of rows) gw.recorder.record(r);
  await gw.recorder.flush();
});
afterAll(async () => {
  await gw.stop();
  msw.close();
});

function post(path: string, headers: Record<string, string>, body: unknown) {
  return realFetch(`${gw.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers },
    body: JSON.stringify(body),
  });
}

async function sessionOf(requestId: string) {
  await gw.recorder.flush();
  const rows = await gw.sql<{ session_id: string | null }[]>`select session_id from usage where request_id = ${requestId}`;
  expect(rows).toHaveLength(1);
  return rows[0]!.session_id;
}

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };

describe('the session of a request', () => {
  it.each([
    { api: 'chat completions', path: '/v1/chat/completions', body: chat, header: 'X-Session-Id', id: 'sess-chat-1' },
    { api: 'messages', path: '/v1/messages', body: { model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }, header: 'X-Claude-Code-Session-Id', id: '0f8e2a1c-5b7d-4e3f-9a6b-1c2d3e4f5a6b' },
    { api: 'embeddings', path: '/v1/embeddings', body: { model: 'text-embedding-3-small', input: 'hi' }, header: 'Session-Id', id: 'emb:42' },
    { api: 'responses', path: '/v1/responses', body: { model: 'gpt-4o-mini', input: 'hi' }, header: 'X-Session-Id', id: 'resp_Session.1' },
    { api: 'passthrough', path: '/p/openai/v1/chat/completions', body: chat, header: 'Session-Id', id: 'pt-session' },
  ])('goes on the usage row of $api from $header', async ({ path, body, header, id }) => {
    const requestId = `session-${path}-${header}`;
    const res = await post(path, { [header]: id, 'X-Request-ID': requestId }, body);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(await sessionOf(requestId)).toBe(id);
  });

  it('is read from the first session header present, in the order X-Session-Id, X-Claude-Code-Session-Id, Session-Id', async () => {
    const res = await post('/v1/chat/completions', { 'Session-Id': 'third', 'X-Claude-Code-Session-Id': 'second', 'X-Request-ID': 'session-order' }, chat);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(await sessionOf('session-order')).toBe('second');
  });

  it.each([
    { why: 'a space', value: 'two words' },
    { why: 'more than 256 characters', value: 's'.repeat(257) },
    { why: 'a character outside the id set', value: 'sess;drop' },
    { why: 'nothing', value: '' },
  ])('is ignored when the header holds $why, and the request still succeeds', async ({ why, value }) => {
    const requestId = `session-bad-${why.replaceAll(' ', '-')}`;
    const res = await post('/v1/chat/completions', { 'X-Session-Id': value, 'X-Request-ID': requestId }, chat);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(await sessionOf(requestId)).toBeNull();
  });

  it('is null without a session header', async () => {
    const res = await post('/v1/chat/completions', { 'X-Request-ID': 'session-none' }, chat);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(await sessionOf('session-none')).toBeNull();
  });
});

describe('GET /admin/usage/sessions', () => {
  const teamA = {
    session_id: 's-a', user_path: '/team', requests: 3, input_tokens: 300, output_tokens: 60, total_tokens: 360,
    // The cache hit counts its request and tokens but no provider spend.
    input_cost: 0.00003, output_cost: 0.000024, total_cost: 0.000054,
  };
  const otherA = { session_id: 's-a', user_path: '/other', requests: 1, input_tokens: 100, output_tokens: 20, total_tokens: 120, input_cost: 0.000015, output_cost: 0.000012, total_cost: 0.000027 };
  const teamB = { session_id: 's-b', user_path: '/team', requests: 1, input_tokens: 100, output_tokens: 20, total_tokens: 120, input_cost: null, output_cost: null, total_cost: null };

  it('sums each session under each user path, the most recently active first, leaving out rows without a session', async () => {
    const { data, response } = await admin.getSessionUsage({ client: gw.client, query: june });
    expect(response.status).toBe(200);
    expect(data).toEqual({ entries: [teamB, otherA, teamA], total: 3, limit: 50, offset: 0 });
  });

  it('pages, counting every session in the range', async () => {
    const { data } = await admin.getSessionUsage({ client: gw.client, query: { ...june, limit: 1, offset: 1 } });
    expect(data).toEqual({ entries: [otherA], total: 3, limit: 1, offset: 1 });
  });

  it('filters by session, user path, label and model', async () => {
    const bySession = await admin.getSessionUsage({ client: gw.client, query: { ...june, session_id: 's-a' } });
    expect(bySession.data?.entries).toEqual([otherA, teamA]);
    const byPath = await admin.getSessionUsage({ client: gw.client, query: { ...june, user_path: '/team' } });
    expect(byPath.data?.entries).toEqual([teamB, teamA]);
    const byLabel = await admin.getSessionUsage({ client: gw.client, query: { ...june, label: 'x' } });
    expect(byLabel.data).toMatchObject({ entries: [teamB], total: 1 });
    const byModel = await admin.getSessionUsage({ client: gw.client, query: { ...june, model: 'gpt-4o' } });
    expect(byModel.data?.entries).toEqual([otherA]);
  });

  it('answers a session id that is not an id with 400', async () => {
    const { response, error } = await admin.getSessionUsage({ client: gw.client, query: { ...june, session_id: 'two words' } });
    expect(response.status).toBe(400);
    expect(error).toMatchObject({ type: 'invalid_request_error', param: 'session_id' });
  });
});

describe('session_id and label on the usage endpoints', () => {
  it('filters the usage log, whose entries carry their labels and session', async () => {
    const { data } = await admin.getUsageLog({ client: gw.client, query: { ...june, session_id: 's-a' } });
    expect(data?.total).toBe(3);
    expect(data?.entries?.map((e) => [e.request_id, e.session_id, e.labels])).toEqual([
      ['a-other', 's-a', []],
      ['a-2', 's-a', ['y']],
      ['a-1', 's-a', []],
    ]);
    const labelled = await admin.getUsageLog({ client: gw.client, query: { ...june, label: 'x' } });
    expect(labelled.data?.entries?.map((e) => [e.request_id, e.session_id, e.labels])).toEqual([
      ['b-1', 's-b', ['x']],
      ['none-1', null, ['x']],
    ]);
    expect(labelled.data?.total).toBe(2);
  });

  it('filters the summary and the breakdowns', async () => {
    const summary = await admin.getUsageSummary({ client: gw.client, query: { ...june, session_id: 's-a', cache_mode: 'all' } });
    expect(summary.data).toMatchObject({ total_requests: 4, total_tokens: 480 });
    const models = await admin.getModelUsage({ client: gw.client, query: { ...june, session_id: 's-a' } });
    expect(models.data?.map((m) => [m.model, m.requests])).toEqual([['gpt-4o', 1], ['gpt-4o-mini', 2]]);
    const paths = await admin.getUserPathUsage({ client: gw.client, query: { ...june, session_id: 's-b' } });
    expect(paths.data?.map((p) => [p.user_path, p.requests])).toEqual([['/team', 1]]);
    const labels = await admin.getLabelUsage({ client: gw.client, query: { ...june, session_id: 's-a' } });
    expect(labels.data?.map((l) => [l.label, l.requests])).toEqual([['y', 1]]);
  });

  it('filters daily usage by session, model, provider and label', async () => {
    const days = async (query: Record<string, string>) =>
      ((await admin.getDailyUsage({ client: gw.client, query: { ...june, ...query } })).data ?? []).map((d) => [d.date, d.requests]);
    expect(await days({ session_id: 's-a' })).toEqual([['2026-06-01', 3]]);
    expect(await days({ session_id: 's-b' })).toEqual([['2026-06-02', 1]]);
    expect(await days({ model: 'gpt-4o' })).toEqual([['2026-06-01', 1]]);
    expect(await days({ provider: 'openai' })).toEqual([['2026-06-01', 4], ['2026-06-02', 1]]);
    expect(await days({ provider: 'anthropic' })).toEqual([]);
    expect(await days({ label: 'x' })).toEqual([['2026-06-01', 1], ['2026-06-02', 1]]);
  });
});
