import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as admin from '../../generated/sdk.gen.ts';
import type { AdminUpsertVirtualModelRequest } from '../../generated/types.gen.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { fixture, http, HttpResponse, jsonFixture, mockProviders, realFetch, sseResponse } from '../support/providers.ts';

const KEY = 'sk-virtual-master';
const OPENAI = 'https://api.openai.com/v1';
const ANTHROPIC = 'https://api.anthropic.com/v1';
const msw = mockProviders();
let gw: TestGateway;

/** The model of every request each provider received, in order. */
const sent: { provider: 'openai' | 'anthropic'; model: string }[] = [];

/** Models OpenAI lists: the fixture's, and one no price table knows. */
const UNPRICED = 'acme-house-model-7';

// Defined in the configuration, so read-only through the admin API. Its cheapest target (gpt-4.1-nano)
// is listed by no provider, and one target has no price.
const configured = [
  { source: 'thrifty', strategy: 'cost', targets: [{ model: `openai/${UNPRICED}` }, { model: 'openai/gpt-4o' }, { model: 'openai/gpt-4.1-nano' }, { model: 'openai/gpt-4o-mini' }] },
  { source: 'priced-first', strategy: 'cost', targets: [{ model: `openai/${UNPRICED}` }, { model: 'anthropic/claude-sonnet-4-5' }] },
];

function providers() {
  const models = jsonFixture<{ data: object[] }>('openai/models.json');
  models.data.push({ id: UNPRICED, object: 'model', created: 1, owned_by: 'acme' });
  return [
    http.get(`${OPENAI}/models`, () => HttpResponse.json(models)),
    http.get(`${ANTHROPIC}/models`, () => HttpResponse.json({ data: [{ id: 'claude-sonnet-4-5', type: 'model' }], has_more: false })),
    http.post(`${OPENAI}/chat/completions`, async ({ request }) => {
      const body = (await request.json()) as { model: string; stream?: boolean };
      sent.push({ provider: 'openai', model: body.model });
      return body.stream ? sseResponse(fixture('openai/stream.sse')) : HttpResponse.json(jsonFixture('openai/chat.json'));
    }),
    http.post(`${ANTHROPIC}/messages`, async ({ request }) => {
      sent.push({ provider: 'anthropic', model: ((await request.json()) as { model: string }).model });
      return HttpResponse.json(jsonFixture('anthropic/message.json'));
    }),
  ];
}

beforeAll(async () => {
  msw.use(...providers());
  gw = await startTestGateway({
    GOMODEL_MASTER_KEY: KEY,
    OPENAI_API_KEY: 'sk-openai',
    ANTHROPIC_API_KEY: 'sk-ant',
    VIRTUAL_MODELS: JSON.stringify(configured),
    USAGE_FLUSH_INTERVAL: '100ms',
  });
});
afterEach(() => {
  sent.length = 0;
});
afterAll(async () => {
  await gw.stop();
  msw.close();
});

async function put(body: AdminUpsertVirtualModelRequest) {
  const res = await admin.upsertVirtualModel({ client: gw.client, body });
  return { status: res.response.status, data: res.data, error: res.error as { code?: string | null; param?: string | null; message?: string } | undefined };
}

async function post(path: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await realFetch(`${gw.url}${path}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

const chat = (model: string, headers: Record<string, string> = {}) => post('/v1/chat/completions', { model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 20 }, headers);

async function modelIds(userPath?: string): Promise<string[]> {
  const res = await realFetch(`${gw.url}/v1/models`, { headers: { Authorization: `Bearer ${KEY}`, ...(userPath ? { 'X-GoModel-User-Path': userPath } : {}) } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: { id: string }[] }).data.map((m) => m.id);
}

describe('a virtual model with one target (an alias)', () => {
  it('sends the request to its target and answers with the model the provider reported; the row keeps both', async () => {
    const saved = await put({ source: 'fast', target_model: 'openai/gpt-4o-mini', description: 'the quick one' });
    expect(saved.status).toBe(200);
    expect(saved.data).toMatchObject({ source: 'fast', kind: 'redirect', valid: true, resolved_model: 'openai/gpt-4o-mini', provider_type: 'openai', managed: false, enabled: true, strategy: 'round_robin' });
    const res = await chat('fast', { 'X-Request-ID': 'vm-alias' });
    expect(res.status).toBe(200);
    expect(res.body.model).toBe('gpt-4o-mini-2024-07-18');
    expect(sent).toEqual([{ provider: 'openai', model: 'gpt-4o-mini' }]);
    await gw.recorder.flush();
    const [row] = await gw.sql<{ model: string; requested_model: string; provider_name: string; total_cost: string | null }[]>`
      select model, requested_model, provider_name, total_cost from usage where request_id = 'vm-alias'`;
    expect(row).toMatchObject({ model: 'gpt-4o-mini-2024-07-18', requested_model: 'fast', provider_name: 'openai' });
    expect(row!.total_cost).not.toBeNull();
    const log = await admin.getUsageLog({ client: gw.client, query: { search: 'vm-alias' } });
    expect(log.data!.entries![0]).toMatchObject({ model: 'gpt-4o-mini-2024-07-18', requested_model: 'fast' });
  });

  it('streams through its target, and the stream’s row keeps the virtual name too', async () => {
    const res = await realFetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json', 'X-Request-ID': 'vm-stream' },
      body: JSON.stringify({ model: 'fast', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('data: [DONE]');
    expect(sent).toEqual([{ provider: 'openai', model: 'gpt-4o-mini' }]);
    await gw.recorder.flush();
    const [row] = await gw.sql<{ requested_model: string; provider_name: string }[]>`select requested_model, provider_name from usage where request_id = 'vm-stream'`;
    expect(row).toEqual({ requested_model: 'fast', provider_name: 'openai' });
  });

  it('keeps the selector as sent as the requested model of a request for a real model', async () => {
    expect((await chat('openai/gpt-4o-mini', { 'X-Request-ID': 'vm-real' })).status).toBe(200);
    await gw.recorder.flush();
    const [row] = await gw.sql<{ requested_model: string }[]>`select requested_model from usage where request_id = 'vm-real'`;
    expect(row!.requested_model).toBe('openai/gpt-4o-mini');
  });

  it('answers an unknown model 404 as before', async () => {
    const res = await chat('no-such-model-anywhere');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('model_not_found');
  });
});

describe('weighted targets', () => {
  it('round_robin spreads requests exactly by weight, in the same order every cycle', async () => {
    expect((await put({ source: 'spread', strategy: 'round_robin', targets: [{ model: 'openai/gpt-4o', weight: 3 }, { model: 'anthropic/claude-sonnet-4-5', weight: 1 }] })).status).toBe(200);
    for (let i = 0; i < 40; i++) expect((await chat('spread')).status).toBe(200);
    const order = sent.map((s) => s.provider);
    expect(order.filter((p) => p === 'openai').length).toBe(30);
    expect(order.filter((p) => p === 'anthropic').length).toBe(10);
    for (let i = 0; i < 40; i += 4) expect(order.slice(i, i + 4)).toEqual(order.slice(0, 4));
    expect(sent.find((s) => s.provider === 'anthropic')!.model).toBe('claude-sonnet-4-5');
  });

  it('weighted picks at random by weight: both targets of equal weight serve', async () => {
    expect((await put({ source: 'dice', strategy: 'weighted', targets: [{ model: 'openai/gpt-4o' }, { model: 'openai/gpt-4o-mini' }] })).status).toBe(200);
    for (let i = 0; i < 100; i++) expect((await chat('dice')).status).toBe(200);
    const counts = new Map<string, number>();
    for (const s of sent) counts.set(s.model, (counts.get(s.model) ?? 0) + 1);
    expect(counts.get('gpt-4o')).toBeGreaterThan(10);
    expect(counts.get('gpt-4o-mini')).toBeGreaterThan(10);
  });

  it('cost takes the cheapest priced target a provider serves, skipping an unlisted one', async () => {
    const res = await chat('thrifty', { 'X-Request-ID': 'vm-cost' });
    expect(res.status).toBe(200);
    expect(sent).toEqual([{ provider: 'openai', model: 'gpt-4o-mini' }]);
    await gw.recorder.flush();
    const [row] = await gw.sql<{ requested_model: string }[]>`select requested_model from usage where request_id = 'vm-cost'`;
    expect(row!.requested_model).toBe('thrifty');
  });

  it('cost puts unpriced targets after priced ones, whatever the order declared', async () => {
    expect((await chat('priced-first')).status).toBe(200);
    expect(sent).toEqual([{ provider: 'anthropic', model: 'claude-sonnet-4-5' }]);
  });
});

describe('access policies', () => {
  it('refuses a caller outside the user paths with 403 model_access_denied in the envelope of each API, before any provider call', async () => {
    expect((await put({ source: 'team-model', target_model: 'openai/gpt-4o-mini', user_paths: ['/team', '/ops/oncall'] })).status).toBe(200);
    const outside = { 'X-GoModel-User-Path': '/other' };
    const chatRes = await chat('team-model', outside);
    expect(chatRes.status).toBe(403);
    expect(chatRes.body.error).toMatchObject({ type: 'invalid_request_error', code: 'model_access_denied', param: 'model' });
    const responses = await post('/v1/responses', { model: 'team-model', input: 'hi' }, outside);
    expect(responses.status).toBe(403);
    expect(responses.body.error).toMatchObject({ code: 'model_access_denied' });
    const messages = await post('/v1/messages', { model: 'team-model', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }, outside);
    expect(messages.status).toBe(403);
    expect(messages.body).toMatchObject({ type: 'error', error: { type: 'permission_error' } });
    expect(messages.body.error.message).toContain('team-model');
    expect((await post('/v1/messages/count_tokens', { model: 'team-model', messages: [{ role: 'user', content: 'hi' }] }, outside)).status).toBe(403);
    expect(sent).toEqual([]);

    expect((await chat('team-model', { 'X-GoModel-User-Path': '/team/alpha' })).status).toBe(200);
    expect((await chat('team-model', { 'X-GoModel-User-Path': '/ops/oncall' })).status).toBe(200);
    expect((await chat('team-model', { 'X-GoModel-User-Path': '/teams' })).status).toBe(403);
  });

  it('a policy without targets restricts a real model, wherever it is asked for', async () => {
    const saved = await put({ source: 'openai/o3-mini', user_paths: ['/admins'] });
    expect(saved.data).toMatchObject({ kind: 'policy', scope_kind: 'provider_model', provider_name: 'openai', model: 'o3-mini' });
    for (const model of ['o3-mini', 'openai/o3-mini']) {
      const res = await chat(model, { 'X-GoModel-User-Path': '/dev' });
      expect(res.status, model).toBe(403);
      expect(res.body.error.code).toBe('model_access_denied');
    }
    expect((await chat('o3-mini', { 'X-GoModel-User-Path': '/admins/x' })).status).toBe(200);
    expect(await modelIds('/dev')).not.toContain('openai/o3-mini');
    expect(await modelIds('/admins')).toContain('openai/o3-mini');
    const { data } = await admin.listModelInventory({ client: gw.client });
    expect(data!.find((m) => m.selector === 'openai/o3-mini')!.access).toMatchObject({ effective_enabled: true, user_paths: ['/admins'], override: { source: 'openai/o3-mini' } });
    expect(data!.find((m) => m.selector === 'openai/gpt-4o')!.access).toEqual({ selector: 'openai/gpt-4o', default_enabled: true, effective_enabled: true, user_paths: [] });
  });

  it('a policy on a provider covers its every model, one on / every model; the most specific applies', async () => {
    expect((await put({ source: 'anthropic/', enabled: false })).data).toMatchObject({ kind: 'policy', scope_kind: 'provider', provider_name: 'anthropic' });
    expect((await chat('claude-sonnet-4-5')).status).toBe(403);
    expect((await chat('gpt-4o')).status).toBe(200);
    expect(await modelIds()).not.toContain('anthropic/claude-sonnet-4-5');
    expect((await put({ source: 'anthropic/claude-sonnet-4-5', user_paths: ['/'] })).status).toBe(200);
    expect((await chat('claude-sonnet-4-5')).status).toBe(200);

    expect((await put({ source: '/', user_paths: ['/vip'] })).data).toMatchObject({ scope_kind: 'global' });
    expect((await chat('gpt-4o')).status).toBe(403);
    expect((await chat('gpt-4o', { 'X-GoModel-User-Path': '/vip/1' })).status).toBe(200);
    for (const source of ['/', 'anthropic/', 'anthropic/claude-sonnet-4-5']) {
      expect((await admin.deleteVirtualModel({ client: gw.client, body: { source } })).response.status).toBe(204);
    }
    expect((await chat('gpt-4o')).status).toBe(200);
  });

  it('holds on the passthrough route: the body\'s model, else the provider\'s and the global policy', async () => {
    expect((await put({ source: 'openai/gpt-4o', user_paths: ['/vip'] })).status).toBe(200);
    const pass = (body: Record<string, unknown>, userPath: string) => post('/p/openai/chat/completions', body, { 'X-GoModel-User-Path': userPath });
    const ask = { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] };
    const refused = await pass(ask, '/other');
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'model_access_denied' });
    expect(sent).toEqual([]);
    expect((await pass(ask, '/vip')).status).toBe(200);
    expect((await pass({ ...ask, model: 'gpt-4o-mini' }, '/other')).status).toBe(200);
    expect((await put({ source: 'openai/', user_paths: ['/vip'] })).status).toBe(200);
    expect((await pass({ messages: [] }, '/other')).status).toBe(403);
    for (const source of ['openai/', 'openai/gpt-4o']) expect((await admin.deleteVirtualModel({ client: gw.client, body: { source } })).response.status).toBe(204);
    expect((await pass(ask, '/other')).status).toBe(200);
  });

  it('a disabled virtual model answers 403 to everyone and is not listed', async () => {
    expect((await put({ source: 'retired', target_model: 'openai/gpt-4o', enabled: false })).status).toBe(200);
    const res = await chat('retired', { 'X-GoModel-User-Path': '/team' });
    expect(res.status).toBe(403);
    expect(res.body.error).toMatchObject({ code: 'model_access_denied' });
    expect(res.body.error.message).toContain('disabled');
    expect(await modelIds()).not.toContain('retired');
    expect(sent).toEqual([]);
  });

  it('a policy that restricts nothing is no virtual model: it is removed and the answer is 204', async () => {
    expect((await put({ source: 'openai/gpt-4o-mini', user_paths: ['/nobody'] })).status).toBe(200);
    expect((await chat('gpt-4o-mini')).status).toBe(403);
    expect((await put({ source: 'openai/gpt-4o-mini' })).status).toBe(204);
    expect((await chat('gpt-4o-mini')).status).toBe(200);
  });
});

describe('/v1/models', () => {
  it('lists the virtual models a caller may use beside the provider models', async () => {
    expect((await put({ source: 'listed', target_model: 'anthropic/claude-sonnet-4-5', user_paths: ['/listers'] })).status).toBe(200);
    const res = await realFetch(`${gw.url}/v1/models`, { headers: { Authorization: `Bearer ${KEY}`, 'X-GoModel-User-Path': '/listers' } });
    const { data } = (await res.json()) as { data: { id: string; owned_by: string; object: string }[] };
    expect(data.find((m) => m.id === 'listed')).toMatchObject({ object: 'model', owned_by: 'anthropic' });
    expect(data.map((m) => m.id)).toEqual(expect.arrayContaining(['fast', 'thrifty', 'openai/gpt-4o-mini', 'anthropic/claude-sonnet-4-5']));
    expect(await modelIds('/elsewhere')).not.toContain('listed');
  });
});

describe('the admin API', () => {
  it('lists configured and stored virtual models; the configured are read-only (409)', async () => {
    const { data } = await admin.listVirtualModels({ client: gw.client });
    expect(data!.find((v) => v.source === 'thrifty')).toMatchObject({ managed: true, kind: 'redirect', strategy: 'cost', valid: true });
    expect(data!.find((v) => v.source === 'fast')).toMatchObject({ managed: false, targets: [{ model: 'openai/gpt-4o-mini', weight: 1 }] });
    const changed = await put({ source: 'thrifty', target_model: 'openai/gpt-4o' });
    expect(changed.status).toBe(409);
    expect(changed.error).toMatchObject({ code: 'virtual_model_read_only', param: 'source' });
    const deleted = await admin.deleteVirtualModel({ client: gw.client, body: { source: 'thrifty' } });
    expect(deleted.response.status).toBe(409);
    expect((await put({ source: 'renamed', old_source: 'thrifty', target_model: 'openai/gpt-4o' })).status).toBe(409);
    expect((await chat('thrifty')).status).toBe(200);
  });

  it('refuses bad definitions with 400 naming the field', async () => {
    const cases: [AdminUpsertVirtualModelRequest, string, string?][] = [
      [{ source: 'x', target_model: 'openai/gpt-9-imaginary' }, 'target_model', 'unknown_target'],
      [{ source: 'x', targets: [{ model: 'gpt-4o' }, { model: 'nobody/serves-this' }] }, 'targets[1].model', 'unknown_target'],
      [{ source: 'x', targets: [{ model: 'gpt-4o', weight: -1 }] }, 'targets[0].weight'],
      [{ source: 'x', targets: [{ model: 'gpt-4o', weight: 0 }] }, 'targets[0].weight'],
      [{ source: '  ', target_model: 'gpt-4o' }, 'source'],
      [{ source: 'x', target_model: 'gpt-4o', targets: [{ model: 'gpt-4o-mini' }] }, 'target_model'],
      [{ source: 'x', targets: [{ model: 'gpt-4o' }, { model: 'gpt-4o' }] }, 'targets[1]'],
      [{ source: 'x', target_model: 'gpt-4o', strategy: 'fastest' }, 'strategy'],
      [{ source: 'x', target_model: 'gpt-4o', user_paths: ['/a/../b'] }, 'user_paths[0]'],
      [{ source: '/', target_model: 'gpt-4o' }, 'source'],
    ];
    for (const [body, param, code] of cases) {
      const res = await put(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.error, JSON.stringify(body)).toMatchObject({ type: 'invalid_request_error', param, ...(code ? { code } : {}) });
    }
    const typed = await realFetch(`${gw.url}/admin/virtual-models`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ source: 'x', targets: [{ model: 'gpt-4o', weight: 'heavy' }], session: 1 }),
    });
    expect(typed.status).toBe(400);
    expect((await admin.listVirtualModels({ client: gw.client })).data!.some((v) => v.source === 'x')).toBe(false);
  });

  it('renames, and deletes with 204 (404 for an unknown source)', async () => {
    expect((await put({ source: 'before', target_model: 'openai/gpt-4o' })).status).toBe(200);
    const renamed = await put({ source: 'after', old_source: 'before', target_model: 'openai/gpt-4o' });
    expect(renamed.status).toBe(200);
    expect((await chat('before')).status).toBe(404);
    expect((await chat('after')).status).toBe(200);
    expect((await admin.deleteVirtualModel({ client: gw.client, body: { source: 'after' } })).response.status).toBe(204);
    expect((await chat('after')).status).toBe(404);
    const again = await admin.deleteVirtualModel({ client: gw.client, body: { source: 'after' } });
    expect(again.response.status).toBe(404);
    expect(again.error).toMatchObject({ code: 'virtual_model_not_found' });
  });
});

describe('the model registry', () => {
  it('lists every registered model with its selector, category, price (null when unknown) and access', async () => {
    const { data } = await admin.listModelInventory({ client: gw.client });
    const mini = data!.find((m) => m.selector === 'openai/gpt-4o-mini')!;
    expect(mini).toMatchObject({ provider_type: 'openai', provider_name: 'openai', model: { id: 'gpt-4o-mini', object: 'model', owned_by: 'openai' } });
    expect(mini.model!.metadata!.categories).toEqual(['text_generation']);
    expect(mini.model!.metadata!.pricing).toMatchObject({ currency: 'USD', input_per_mtok: 0.15, output_per_mtok: 0.6 });
    expect(data!.find((m) => m.selector === `openai/${UNPRICED}`)!.model!.metadata!.pricing).toBeNull();
    expect(data!.find((m) => m.selector === 'anthropic/claude-sonnet-4-5')!.model!.metadata!.pricing).toMatchObject({ input_per_mtok: 3, output_per_mtok: 15 });

    const embeddings = await admin.listModelInventory({ client: gw.client, query: { category: 'embedding' } });
    expect(embeddings.data!.map((m) => m.selector)).toEqual(['openai/text-embedding-3-small']);
    const { data: categories } = await admin.listModelCategories({ client: gw.client });
    expect(categories![0]).toEqual({ category: 'all', count: data!.length, display_name: 'All' });
    expect(categories!.find((c) => c.category === 'embedding')!.count).toBe(1);
    expect(categories!.find((c) => c.category === 'text_generation')!.count).toBe(data!.length - 1);
    const bad = await realFetch(`${gw.url}/admin/models?category=toys`, { headers: { Authorization: `Bearer ${KEY}` } });
    expect(bad.status).toBe(400);
  });
});
