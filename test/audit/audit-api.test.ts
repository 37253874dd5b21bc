import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as admin from '../../generated/sdk.gen.ts';
import type { AdminAuditLogEntryResponse } from '../../generated/types.gen.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { fixture, http, HttpResponse, jsonFixture, mockProviders, realFetch, sseResponse } from '../support/providers.ts';

const KEY = 'sk-audit-master-key-0123456789';
const OPENAI = 'https://api.openai.com/v1';
const BUSY = 'https://busy.audit.test/v1';
/** Secrets a client sends in its body: a configured field and a key-shaped value in the text. */
const FIELD_SECRET = 'field-secret-never-stored-42';
const SHAPED_SECRET = 'sk-proj-abcdefghijklmnopqrstuvwxyz0123456789';
const msw = mockProviders();
let gw: TestGateway;

/** The text of the fixture stream, as a client assembles it from the chunks' deltas. */
const streamText = fixture('openai/stream.sse')
  .split('\n')
  .filter((l) => l.startsWith('data: {'))
  .map((l) => (JSON.parse(l.slice(6)) as { choices: { delta?: { content?: string } }[] }).choices[0]?.delta?.content ?? '')
  .join('');

beforeAll(async () => {
  msw.use(
    http.get(`${OPENAI}/models`, () => HttpResponse.json(jsonFixture('openai/models.json'))),
    http.get(`${BUSY}/models`, () => HttpResponse.json({ object: 'list', data: [{ id: 'flaky', object: 'model', created: 1, owned_by: 'busy' }] })),
    http.post(`${BUSY}/chat/completions`, () => HttpResponse.json({ error: { message: 'overloaded', type: 'server_error' } }, { status: 503 })),
    http.post(`${OPENAI}/chat/completions`, async ({ request }) => {
      const body = (await request.json()) as { stream?: boolean; messages: { content: string }[] };
      if (body.messages[0]?.content === 'provider-error') return HttpResponse.json(jsonFixture('openai/error-400.json'), { status: 400 });
      if (body.stream) return sseResponse(fixture('openai/stream.sse'));
      return HttpResponse.json(jsonFixture('openai/chat.json'));
    }),
  );
  gw = await startTestGateway({
    GOMODEL_MASTER_KEY: KEY,
    OPENAI_API_KEY: 'sk-upstream-audit-key-000000000000',
    OPENAI_BUSY_BASE_URL: BUSY,
    OPENAI_BUSY_API_KEY: 'sk-busy-upstream-key-00000000000',
    FAILOVER_RULES_JSON: JSON.stringify({ 'openai-busy/flaky': ['openai/gpt-4o-mini'] }),
    RETRY_MAX_RETRIES: '0',
    AUDIT_BODIES: 'true',
    AUDIT_BODY_MAX_BYTES: '2K',
    AUDIT_REDACT_FIELDS: 'api_key,client_token',
    CACHE_ENABLED: 'true',
    USAGE_FLUSH_INTERVAL: '50ms',
  });
});
afterAll(async () => {
  await gw.stop();
  msw.close();
});

function chat(requestId: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return realFetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'x-request-id': requestId, ...headers },
    body: JSON.stringify(body),
  });
}

const hi = (content = 'hi', model = 'gpt-4o-mini') => ({ model, messages: [{ role: 'user', content }] });

/** The one entry of a request, with its bodies, once the recorder wrote it. */
async function entryOf(requestId: string): Promise<AdminAuditLogEntryResponse> {
  await gw.recorder.flush();
  const list = await admin.getAuditLog({ client: gw.client, query: { search: requestId, days: 1 } });
  const found = list.data!.entries!.filter((e) => e.request_id === requestId);
  expect(found).toHaveLength(1);
  expect(found[0]!.bodies_omitted).toBe(true);
  const detail = await admin.getAuditLogDetail({ client: gw.client, query: { log_id: found[0]!.id! } });
  expect(detail.response.status).toBe(200);
  return detail.data!;
}

describe('an audit entry per request', () => {
  it('records a successful request with who sent it, where it went, its bodies and its usage', async () => {
    const res = await chat('audit-ok', hi(), { 'x-session-id': 'audit-thread', 'user-agent': 'audit-test/1' });
    expect(res.status).toBe(200);
    await res.json();
    const e = await entryOf('audit-ok');
    expect(e).toMatchObject({
      request_id: 'audit-ok', method: 'POST', path: '/v1/chat/completions', status_code: 200, stream: false, auth_method: 'master_key',
      requested_model: 'gpt-4o-mini', provider: 'openai', provider_name: 'openai', session_id: 'audit-thread', user_path: '/', error_type: null,
      bodies_omitted: false,
    });
    expect(e.client_ip).toMatch(/127\.0\.0\.1/);
    expect(e.duration_ns).toBeGreaterThan(0);
    expect(e.data?.user_agent).toBe('audit-test/1');
    expect(e.data?.request_body).toEqual(hi());
    expect(e.data?.response_body).toEqual(jsonFixture('openai/chat.json'));
    // In today's day partition (made at start), not the default one.
    const [where] = await gw.sql<{ partition: string }[]>`select tableoid::regclass::text as partition from audit_log where request_id = 'audit-ok'`;
    expect(where!.partition).toBe(`audit_log_p${e.timestamp!.slice(0, 10).replaceAll('-', '')}`);
    const usage = jsonFixture<{ usage: { prompt_tokens: number; completion_tokens: number } }>('openai/chat.json').usage;
    expect(e.usage).toMatchObject({ entries: 1, input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens });
  });

  it('records a provider error with its type and no usage', async () => {
    const res = await chat('audit-provider-error', hi('provider-error'));
    expect(res.status).toBe(400);
    const e = await entryOf('audit-provider-error');
    expect(e).toMatchObject({ status_code: 400, error_type: 'invalid_request_error', provider_name: 'openai' });
    expect(e.data?.error_message).toBeTruthy();
    expect(e.usage).toBeUndefined();
    expect(e.data?.response_body).toBeNull();
  });

  it('records each failover attempt', async () => {
    const res = await chat('audit-failover', hi('hi', 'openai-busy/flaky'));
    expect(res.status).toBe(200);
    await res.json();
    const e = await entryOf('audit-failover');
    expect(e).toMatchObject({ status_code: 200, requested_model: 'openai-busy/flaky', provider_name: 'openai' });
    expect(e.data?.attempts).toEqual([
      expect.objectContaining({ seq: 1, provider_name: 'openai-busy', model: 'flaky', success: false, status_code: 503 }),
      expect.objectContaining({ seq: 2, provider_name: 'openai', model: 'gpt-4o-mini', success: true, status_code: 200 }),
    ]);
  });

  it('stores a stream as its assembled text', async () => {
    const res = await chat('audit-stream', { ...hi(), stream: true });
    expect(res.status).toBe(200);
    await res.text();
    const e = await entryOf('audit-stream');
    expect(streamText.length).toBeGreaterThan(0);
    expect(e).toMatchObject({ stream: true, status_code: 200 });
    expect(e.data?.response_body).toEqual({ object: 'stream', content: streamText });
    expect(e.usage?.total_tokens).toBeGreaterThan(0);
  });

  it('records a passthrough request, its stream relayed untouched and not stored', async () => {
    const res = await realFetch(`${gw.url}/p/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'x-request-id': 'audit-passthrough' },
      body: JSON.stringify({ ...hi(), stream: true }),
    });
    expect(res.status).toBe(200);
    await res.text();
    const e = await entryOf('audit-passthrough');
    expect(e).toMatchObject({ path: '/p/openai/v1/chat/completions', status_code: 200, stream: true, provider_name: 'openai' });
    expect(e.data?.request_body).toEqual({ ...hi(), stream: true });
    expect(e.data?.response_body).toBeNull();
    expect(e.usage?.total_tokens).toBeGreaterThan(0);
  });

  it('records a response cache hit, its usage marked exact and the cached reply as its body', async () => {
    const body = hi('cache me');
    await (await chat('audit-cache-miss', body, { 'x-cache-type': 'exact' })).json();
    await expect.poll(async () => (await admin.getCacheOverview({ client: gw.client })).data!.cache!.entries, { timeout: 5000, interval: 20 }).toBe(1);
    const res = await chat('audit-cache-hit', body, { 'x-cache-type': 'exact' });
    expect(res.headers.get('x-cache')).toBe('HIT (exact)');
    await res.json();
    const e = await entryOf('audit-cache-hit');
    expect(e).toMatchObject({ status_code: 200, cache_type: 'exact', provider_name: 'openai' });
    expect(e.data?.response_body).toEqual(jsonFixture('openai/chat.json'));
  });

  it('never stores a secret from a header or a body', async () => {
    const body = { ...hi(`my key is ${SHAPED_SECRET}`), api_key: FIELD_SECRET, user: 'u1' };
    const res = await chat('audit-secrets', body, { 'x-api-key': 'x-api-key-secret-value-9', 'x-custom': `Bearer ${SHAPED_SECRET}` });
    await res.arrayBuffer();
    const e = await entryOf('audit-secrets');
    const req = e.data?.request_body as { api_key: string; messages: { content: string }[]; user: string };
    expect(req.api_key).toBe('[redacted]');
    expect(req.messages[0]!.content).toBe('my key is [redacted]');
    expect(req.user).toBe('u1');
    expect(e.data?.request_headers).toMatchObject({ authorization: '[redacted]', 'x-api-key': '[redacted]', 'x-custom': '[redacted]' });
    const [row] = await gw.sql<{ text: string }[]>`select a::text as text from audit_log a where request_id = 'audit-secrets'`;
    for (const secret of [KEY, FIELD_SECRET, SHAPED_SECRET, 'x-api-key-secret-value-9']) expect(row!.text).not.toContain(secret);
  });

  it('caps a body at AUDIT_BODY_MAX_BYTES and says so', async () => {
    const res = await chat('audit-large', hi('x'.repeat(5000)));
    await res.arrayBuffer();
    const e = await entryOf('audit-large');
    expect(e.data?.request_body_too_big_to_handle).toBe(true);
    expect(typeof e.data?.request_body).toBe('string');
    expect(Buffer.byteLength(e.data?.request_body as string)).toBe(2048);
    expect(e.data?.response_body_too_big_to_handle).toBe(false);
  });

  it('records a request refused for its key, with no caller', async () => {
    const res = await realFetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer wrong-key', 'content-type': 'application/json', 'x-request-id': 'audit-401' },
      body: JSON.stringify(hi()),
    });
    expect(res.status).toBe(401);
    const e = await entryOf('audit-401');
    expect(e).toMatchObject({ status_code: 401, error_type: 'authentication_error', auth_method: null, provider_name: null });
  });
});

describe('reading the audit log', () => {
  beforeAll(async () => {
    for (const id of ['conv-1', 'conv-2', 'conv-3']) await (await chat(id, hi(id), { 'x-session-id': 'conv-session' })).arrayBuffer();
    await gw.recorder.flush();
  });

  it('pages newest first and filters', async () => {
    const all = await admin.getAuditLog({ client: gw.client, query: { session_id: 'conv-session' } });
    expect(all.data?.total).toBe(3);
    expect(all.data?.entries?.map((e) => e.request_id)).toEqual(['conv-3', 'conv-2', 'conv-1']);
    const page = await admin.getAuditLog({ client: gw.client, query: { session_id: 'conv-session', limit: 2, offset: 2 } });
    expect(page.data).toMatchObject({ total: 3, limit: 2, offset: 2 });
    expect(page.data?.entries?.map((e) => e.request_id)).toEqual(['conv-1']);
    const errors = await admin.getAuditLog({ client: gw.client, query: { status_code: 400 } });
    expect(errors.data?.entries?.map((e) => e.request_id)).toEqual(['audit-provider-error']);
    const streams = await admin.getAuditLog({ client: gw.client, query: { stream: true } });
    expect(streams.data?.entries?.map((e) => e.request_id)).toEqual(['audit-passthrough', 'audit-stream']);
    const failedOver = await admin.getAuditLog({ client: gw.client, query: { requested_model: 'openai-busy/flaky' } });
    expect(failedOver.data?.entries?.map((e) => e.request_id)).toEqual(['audit-failover']);
    const byProvider = await admin.getAuditLog({ client: gw.client, query: { provider: 'openai', search: 'conv-' } });
    expect(byProvider.data?.total).toBe(3);
    const byError = await admin.getAuditLog({ client: gw.client, query: { error_type: 'authentication_error', method: 'POST', path: '/v1/chat/completions' } });
    expect(byError.data?.entries?.map((e) => e.request_id)).toEqual(['audit-401']);
    const elsewhere = await admin.getAuditLog({ client: gw.client, query: { user_path: '/team' } });
    expect(elsewhere.data?.total).toBe(0);
    const past = await admin.getAuditLog({ client: gw.client, query: { start_date: '2026-01-01', end_date: '2026-01-02' } });
    expect(past.data?.total).toBe(0);
  });

  it('threads a conversation by session, oldest first, cut to its limit around the entry', async () => {
    const list = await admin.getAuditLog({ client: gw.client, query: { session_id: 'conv-session' } });
    const middle = list.data!.entries!.find((e) => e.request_id === 'conv-2')!;
    const whole = await admin.getAuditConversation({ client: gw.client, query: { log_id: middle.id! } });
    expect(whole.data?.anchor_id).toBe(middle.id);
    expect(whole.data?.entries?.map((e) => e.request_id)).toEqual(['conv-1', 'conv-2', 'conv-3']);
    expect(whole.data?.truncated).toBe(false);
    expect(whole.data?.entries?.[0]?.data?.request_body).toEqual(hi('conv-1'));
    const cut = await admin.getAuditConversation({ client: gw.client, query: { log_id: middle.id!, limit: 2 } });
    expect(cut.data?.entries).toHaveLength(2);
    expect(cut.data?.entries?.map((e) => e.request_id)).toContain('conv-2');
    expect(cut.data?.truncated).toBe(true);
  });

  it('lists sessions with their counts and times, entries without one as threads of their own', async () => {
    const { data } = await admin.getAuditSessions({ client: gw.client, query: { search: 'conv-' } });
    expect(data?.total).toBe(1);
    const s = data!.sessions![0]!;
    expect(s).toMatchObject({ session_id: 'conv-session', request_count: 3 });
    expect(s.latest?.request_id).toBe('conv-3');
    expect(Date.parse(s.first_timestamp!)).toBeLessThanOrEqual(Date.parse(s.last_timestamp!));
    const lone = await admin.getAuditSessions({ client: gw.client, query: { search: 'audit-stream' } });
    expect(lone.data?.sessions).toEqual([expect.objectContaining({ session_id: null, request_count: 1 })]);
  });

  it('counts statuses per hour bucket, zero-filled, with latency percentiles per provider', async () => {
    const { data } = await admin.getAuditStats({ client: gw.client, query: { days: 1 } });
    const log = await admin.getAuditLog({ client: gw.client, query: { days: 1, limit: 100 } });
    const entries = log.data!.entries!;
    expect(data?.interval).toBe('hour');
    const hour = new Date().getUTCHours();
    expect(data?.buckets).toHaveLength(hour + 1);
    expect(data?.buckets?.slice(0, hour).every((b) => b.requests === 0)).toBe(true);
    const count = (lo: number) => entries.filter((e) => e.status_code! >= lo && e.status_code! < lo + 100).length;
    expect(data?.summary).toMatchObject({ requests: entries.length, status_2xx: count(200), status_4xx: count(400), status_5xx: count(500), status_other: 0 });
    expect(data?.summary?.success_rate).toBeCloseTo(count(200) / entries.length);
    expect(data?.summary?.avg_duration_ms).toBeGreaterThan(0);
    const openai = data?.provider_latency?.find((p) => p.provider === 'openai');
    expect(openai?.requests?.[hour]).toBe(entries.filter((e) => e.provider_name === 'openai' && e.status_code === 200).length);
    const [p50, p95, p99] = [openai!.p50_ms![hour]!, openai!.p95_ms![hour]!, openai!.p99_ms![hour]!];
    expect(p50).toBeGreaterThan(0);
    expect(p50).toBeLessThanOrEqual(p95);
    expect(p95).toBeLessThanOrEqual(p99);
    const week = await admin.getAuditStats({ client: gw.client, query: { days: 7 } });
    expect(week.data?.interval).toBe('day');
    expect(week.data?.buckets).toHaveLength(7);
  });

  it('refuses bad parameters with a 4xx naming them', async () => {
    const get = (path: string) => realFetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${KEY}` } });
    for (const [path, param] of [
      ['/admin/audit/detail?log_id=not-a-uuid', 'log_id'],
      ['/admin/audit/detail', 'log_id'],
      ['/admin/audit/log?limit=101', 'limit'],
      ['/admin/audit/log?status_code=abc', 'status_code'],
      ['/admin/audit/log?stream=maybe', 'stream'],
      ['/admin/audit/conversation?log_id=01890a5d-ac96-774b-bcce-b302099a8057&limit=201', 'limit'],
      ['/admin/audit/sessions?days=0', 'days'],
      ['/admin/audit/stats?start_date=2026-02-30x', 'start_date'],
    ] as const) {
      const res = await get(path);
      expect(res.status, path).toBe(400);
      expect(((await res.json()) as { param: string }).param, path).toBe(param);
    }
    const missing = await admin.getAuditLogDetail({ client: gw.client, query: { log_id: '01890a5d-ac96-774b-bcce-b302099a8057' } });
    expect(missing.response.status).toBe(404);
    expect((await realFetch(`${gw.url}/admin/audit/log`)).status).toBe(401);
  });
});

describe('with AUDIT_BODIES off (the default)', () => {
  let plain: TestGateway;
  beforeAll(async () => {
    plain = await startTestGateway({ GOMODEL_MASTER_KEY: KEY, OPENAI_API_KEY: 'sk-upstream-audit-key-000000000000', USAGE_FLUSH_INTERVAL: '50ms' });
  });
  afterAll(() => plain.stop());

  it('records the entry without bodies or headers', async () => {
    const res = await realFetch(`${plain.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'x-request-id': 'no-bodies' },
      body: JSON.stringify({ ...hi(), stream: true }),
    });
    await res.text();
    await plain.recorder.flush();
    const list = await admin.getAuditLog({ client: plain.client, query: { search: 'no-bodies' } });
    const e = await admin.getAuditLogDetail({ client: plain.client, query: { log_id: list.data!.entries![0]!.id! } });
    expect(e.data).toMatchObject({ request_id: 'no-bodies', status_code: 200, stream: true });
    expect(e.data?.data).toMatchObject({ request_body: null, response_body: null, request_headers: null });
    const [row] = await plain.sql`select request_body, response_body, request_headers from audit_log where request_id = 'no-bodies'`;
    expect(row).toEqual({ request_body: null, response_body: null, request_headers: null });
  });
});
