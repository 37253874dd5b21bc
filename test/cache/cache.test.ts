import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as admin from '../../generated/sdk.gen.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { fixture, http, HttpResponse, jsonFixture, mockProviders, realFetch, sseResponse } from '../support/providers.ts';

const KEY = 'sk-gateway-master';
const OPENAI = 'https://api.openai.com/v1';
const msw = mockProviders();
let gw: TestGateway;
let sdk: OpenAI;
/** Provider calls by path, since the last test. */
const calls: Record<string, number> = {};
/** How the next chat stream ends: cut after this many events, or whole. */
let cutStreamAfter: number | undefined;

const chatReply = jsonFixture('openai/chat.json');

function mockOpenAi() {
  msw.resetHandlers(
    http.get(`${OPENAI}/models`, () => HttpResponse.json(jsonFixture('openai/models.json'))),
    http.post(`${OPENAI}/chat/completions`, async ({ request }) => {
      calls.chat = (calls.chat ?? 0) + 1;
      const body = (await request.json()) as { stream?: boolean };
      if (body.stream) return sseResponse(fixture('openai/stream.sse'), { cutAfter: cutStreamAfter });
      return HttpResponse.json(chatReply);
    }),
    http.post(`${OPENAI}/embeddings`, () => {
      calls.embeddings = (calls.embeddings ?? 0) + 1;
      return HttpResponse.json(jsonFixture('openai/embeddings.json'));
    }),
    http.post(`${OPENAI}/responses`, () => {
      calls.responses = (calls.responses ?? 0) + 1;
      return HttpResponse.json(jsonFixture('openai/responses.json'));
    }),
  );
}

beforeAll(async () => {
  mockOpenAi();
  gw = await startTestGateway({
    GOMODEL_MASTER_KEY: KEY,
    OPENAI_API_KEY: 'sk-upstream',
    CACHE_ENABLED: 'true',
    CACHE_RULES: JSON.stringify([{ user_path: '/faq' }, { model: 'text-embedding-3-small', ttl: '1h' }]),
    SET_BUDGET_BUDGETED: 'daily=10',
    USAGE_FLUSH_INTERVAL: '50ms',
  });
  sdk = new OpenAI({ apiKey: KEY, baseURL: `${gw.url}/v1`, maxRetries: 0, fetch: realFetch });
});
afterEach(() => {
  for (const k of Object.keys(calls)) delete calls[k];
  cutStreamAfter = undefined;
  mockOpenAi();
});
afterAll(async () => {
  await gw.stop();
  msw.close();
});

let seq = 0;
/** A chat request no other test sends. */
const fresh = (extra: Record<string, unknown> = {}) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: `question ${++seq}` }], ...extra });

const overview = async (query: Record<string, string> = {}) => (await admin.getCacheOverview({ client: gw.client, query })).data!;

/** Replies the tests have had stored (each test counts those it causes). */
let stored = 0;
/** Counts `more` replies as stored and waits until the cache holds them all: replies are stored after they are sent, in the background. */
async function written(more = 0): Promise<void> {
  stored += more;
  await expect.poll(async () => (await overview()).cache.entries, { timeout: 5000, interval: 20 }).toBe(stored);
}

/** A raw POST to the gateway; returns status, headers and body text. */
async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await realFetch(`${gw.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('exact response cache', () => {
  it('answers a repeated request through the openai SDK from the cache, with X-Cache: HIT (exact)', async () => {
    const body = fresh({ temperature: 0 });
    const first = await sdk.chat.completions.create(body, { headers: { 'X-Cache-TTL': '60' } }).withResponse();
    expect(first.response.headers.get('x-cache')).toBeNull();
    await written(1);
    const second = await sdk.chat.completions.create(body, { headers: { 'X-Cache-TTL': '60' } }).withResponse();
    expect(second.response.headers.get('x-cache')).toBe('HIT (exact)');
    expect(second.response.headers.get('x-gomodel-provider')).toBe('openai');
    expect(second.data).toEqual(first.data);
    expect(second.data).toEqual(chatReply);
    expect(calls.chat).toBe(1);
  });

  it('replays a stream as the client first received it; a cut stream is not stored', async () => {
    const body = fresh({ stream: true });
    const first = await post('/v1/chat/completions', body, { 'X-Cache-Type': 'exact' });
    expect(first.text).toContain('data: [DONE]');
    await written(1);
    const second = await post('/v1/chat/completions', body, { 'X-Cache-Type': 'exact' });
    expect(second.headers.get('x-cache')).toBe('HIT (exact)');
    expect(second.headers.get('content-type')).toContain('text/event-stream');
    expect(second.text).toBe(first.text);
    expect(calls.chat).toBe(1);
    // The same request without stream is another entry.
    await post('/v1/chat/completions', { ...body, stream: false }, { 'X-Cache-Type': 'exact' });
    expect(calls.chat).toBe(2);
    await written(1);

    cutStreamAfter = 2;
    const cutBody = fresh({ stream: true });
    const cut = await post('/v1/chat/completions', cutBody, { 'X-Cache-Type': 'exact' });
    expect(cut.text).not.toContain('[DONE]');
    cutStreamAfter = undefined;
    // A whole stream sent after the cut one is stored; the cut one never is.
    await post('/v1/chat/completions', fresh({ stream: true }), { 'X-Cache-Type': 'exact' });
    await written(1);
    const again = await post('/v1/chat/completions', cutBody, { 'X-Cache-Type': 'exact' });
    expect(again.headers.get('x-cache')).toBeNull();
    expect(again.text).toContain('data: [DONE]');
    expect(calls.chat).toBe(5);
    await written(1);
  });

  it('is bypassed by Cache-Control no-cache / no-store and X-Cache-Control: no-store, and by X-Cache-Type: semantic', async () => {
    const body = fresh();
    await post('/v1/chat/completions', body, { 'X-Cache-Type': 'exact' });
    await written(1);
    for (const headers of <Record<string, string>[]>[{ 'Cache-Control': 'no-cache' }, { 'Cache-Control': 'no-store' }, { 'X-Cache-Control': 'no-store' }, { 'X-Cache-Type': 'semantic' }]) {
      const r = await post('/v1/chat/completions', body, { 'X-Cache-Type': 'exact', ...headers });
      expect(r.headers.get('x-cache')).toBeNull();
    }
    expect(calls.chat).toBe(5);
    expect((await post('/v1/chat/completions', body, { 'X-Cache-Type': 'exact' })).headers.get('x-cache')).toBe('HIT (exact)');
    expect(calls.chat).toBe(5);
  });

  it('refuses malformed cache headers with a 400 naming them', async () => {
    const ttl = await post('/v1/chat/completions', fresh(), { 'X-Cache-TTL': 'soon' });
    expect(ttl.status).toBe(400);
    expect(JSON.parse(ttl.text).error).toMatchObject({ type: 'invalid_request_error', param: 'X-Cache-TTL' });
    const type = await post('/v1/chat/completions', fresh(), { 'X-Cache-Type': 'fuzzy' });
    expect(type.status).toBe(400);
    expect(JSON.parse(type.text).error).toMatchObject({ param: 'X-Cache-Type' });
    expect(calls.chat).toBeUndefined();
  });

  it('misses for another body or model, hits for the same body with its keys in another order', async () => {
    const h = { 'X-Cache-Type': 'exact' };
    await post('/v1/chat/completions', { model: 'gpt-4o-mini', temperature: 0.5, messages: [{ role: 'user', content: 'order' }] }, h);
    await written(1);
    const reordered = await post('/v1/chat/completions', { messages: [{ content: 'order', role: 'user' }], temperature: 0.5, model: 'gpt-4o-mini' }, h);
    expect(reordered.headers.get('x-cache')).toBe('HIT (exact)');
    expect((await post('/v1/chat/completions', { model: 'gpt-4o-mini', temperature: 0.6, messages: [{ role: 'user', content: 'order' }] }, h)).headers.get('x-cache')).toBeNull();
    expect((await post('/v1/chat/completions', { model: 'gpt-4o', temperature: 0.5, messages: [{ role: 'user', content: 'order' }] }, h)).headers.get('x-cache')).toBeNull();
    expect(calls.chat).toBe(3);
    await written(2);
  });

  it('lets an entry expire after its X-Cache-TTL', async () => {
    const body = fresh();
    await post('/v1/chat/completions', body, { 'X-Cache-TTL': '1' });
    await written(1);
    await new Promise((r) => setTimeout(r, 1100));
    const later = await post('/v1/chat/completions', body, { 'X-Cache-TTL': '1' });
    expect(later.headers.get('x-cache')).toBeNull();
    expect(calls.chat).toBe(2);
    // Stored again under the same key.
    await written();
  });

  it('caches what operator rules name without any header: a user-path subtree, a model', async () => {
    const body = fresh();
    await post('/v1/chat/completions', body, { 'X-GoModel-User-Path': '/faq/billing' });
    await post('/v1/chat/completions', body, { 'X-GoModel-User-Path': '/other' });
    await post('/v1/embeddings', { model: 'text-embedding-3-small', input: `embed ${++seq}` });
    await written(2);
    expect((await post('/v1/chat/completions', body, { 'X-GoModel-User-Path': '/faq/billing' })).headers.get('x-cache')).toBe('HIT (exact)');
    expect((await post('/v1/chat/completions', body, { 'X-GoModel-User-Path': '/other' })).headers.get('x-cache')).toBeNull();
    expect(calls.chat).toBe(3);
    const embedding = await sdk.embeddings.create({ model: 'text-embedding-3-small', input: `embed ${seq}`, encoding_format: 'float' }).withResponse();
    expect(embedding.response.headers.get('x-cache')).toBeNull();
    await written(1);
    const hit = await sdk.embeddings.create({ model: 'text-embedding-3-small', input: `embed ${seq}`, encoding_format: 'float' }).withResponse();
    expect(hit.response.headers.get('x-cache')).toBe('HIT (exact)');
    expect(hit.data).toEqual(embedding.data);
    expect(calls.embeddings).toBe(2);
  });

  it('serves the Responses API from the cache', async () => {
    const body = { model: 'gpt-4o-mini', input: `responses ${++seq}` };
    const first = await post('/v1/responses', body, { 'X-Cache-Type': 'exact' });
    expect(first.status).toBe(200);
    await written(1);
    const second = await post('/v1/responses', body, { 'X-Cache-Type': 'exact' });
    expect(second.headers.get('x-cache')).toBe('HIT (exact)');
    expect(second.text).toBe(first.text);
    expect(calls.responses).toBe(1);
  });

  it("keeps one caller's replies from another by default: another key, or another user path, misses", async () => {
    const a = (await admin.createAuthKey({ client: gw.client, body: { name: 'tenant-a', user_path: '/tenants' } })).data!;
    const b = (await admin.createAuthKey({ client: gw.client, body: { name: 'tenant-b', user_path: '/tenants' } })).data!;
    const body = fresh();
    const as = (key: string, headers: Record<string, string> = {}) => post('/v1/chat/completions', body, { authorization: `Bearer ${key}`, 'X-Cache-Type': 'exact', ...headers });
    await as(a.value!);
    await written(1);
    expect((await as(b.value!)).headers.get('x-cache')).toBeNull();
    expect((await as(a.value!, { 'X-GoModel-User-Path': '/tenants/sub' })).headers.get('x-cache')).toBeNull();
    expect((await as(a.value!)).headers.get('x-cache')).toBe('HIT (exact)');
    expect(calls.chat).toBe(3);
    await written(2);
  });
});

describe('usage of cache hits', () => {
  it('records a hit as cache_type exact with the cached tokens at no cost, shown by cache_mode cached and all, left out of uncached and budgets', async () => {
    const budget = async () => (await admin.listBudgets({ client: gw.client })).data!.budgets!.find((x) => x.user_path === '/budgeted')!;
    const h = { 'X-GoModel-User-Path': '/budgeted', 'X-Cache-Type': 'exact' };
    const body = fresh();
    await post('/v1/chat/completions', body, { ...h, 'X-Request-ID': 'req-cache-miss' });
    await written(1);
    await expect.poll(async () => (await budget()).spent, { timeout: 5000 }).toBeGreaterThan(0);
    const spentBefore = (await budget()).spent;
    const hit = await post('/v1/chat/completions', body, { ...h, 'X-Request-ID': 'req-cache-hit' });
    expect(hit.headers.get('x-cache')).toBe('HIT (exact)');
    expect(calls.chat).toBe(1);

    const logOf = async (requestId: string, mode: 'cached' | 'uncached' | 'all') =>
      (await admin.getUsageLog({ client: gw.client, query: { search: requestId, cache_mode: mode, user_path: '/budgeted' } })).data!.entries!;
    await expect.poll(async () => (await logOf('req-cache-hit', 'cached')).length, { timeout: 5000, interval: 20 }).toBe(1);
    const [row] = await logOf('req-cache-hit', 'cached');
    const [original] = await logOf('req-cache-miss', 'uncached');
    expect(row).toMatchObject({
      cache_type: 'exact',
      model: original!.model,
      provider_id: original!.provider_id,
      input_tokens: original!.input_tokens,
      output_tokens: original!.output_tokens,
      total_tokens: original!.total_tokens,
      total_cost: 0,
      cost_source: 'response_cache',
      user_path: '/budgeted',
    });
    expect(original!.total_cost).toBeGreaterThan(0);
    expect(await logOf('req-cache-hit', 'uncached')).toEqual([]);
    expect(await logOf('req-cache-miss', 'cached')).toEqual([]);
    expect((await logOf('req-cache-hit', 'all')).length).toBe(1);

    const summary = async (mode: 'cached' | 'uncached' | 'all') => (await admin.getUsageSummary({ client: gw.client, query: { user_path: '/budgeted', cache_mode: mode } })).data!;
    expect(await summary('cached')).toMatchObject({ total_requests: 1, total_tokens: original!.total_tokens, total_cost: 0 });
    expect(await summary('uncached')).toMatchObject({ total_requests: 1, total_tokens: original!.total_tokens, total_cost: original!.total_cost });
    expect(await summary('all')).toMatchObject({ total_requests: 2, total_tokens: 2 * original!.total_tokens!, total_cost: original!.total_cost });
    expect((await budget()).spent).toBe(spentBefore);

    const o = await overview({ user_path: '/budgeted' });
    expect(o.summary).toEqual({
      total_hits: 1,
      exact_hits: 1,
      semantic_hits: 0,
      total_input_tokens: original!.input_tokens,
      total_output_tokens: original!.output_tokens,
      total_tokens: original!.total_tokens,
      total_saved_cost: original!.total_cost,
      unpriced_hits: 0,
    });
    expect(o.daily).toHaveLength(1);
    expect(o.daily[0]).toMatchObject({ hits: 1, exact_hits: 1, total_tokens: original!.total_tokens, saved_cost: original!.total_cost });
    expect(o.cache).toMatchObject({ enabled: true, ttl_seconds: 3600, scope: 'caller', max_bytes: 256 * 1024 * 1024 });
    expect(o.cache.bytes).toBeGreaterThan(0);
    // Filters narrow the hits like the usage endpoints' do.
    expect((await overview({ user_path: '/budgeted', model: 'no-such-model' })).summary.total_hits).toBe(0);
  });
});
