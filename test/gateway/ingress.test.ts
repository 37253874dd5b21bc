import Anthropic from '@anthropic-ai/sdk';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as admin from '../../generated/sdk.gen.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { fixture, http, HttpResponse, jsonFixture, mockProviders, realFetch, sseResponse } from '../support/providers.ts';

const KEY = 'sk-gateway-master';
const OPENAI = 'https://api.openai.com/v1';
const ANTHROPIC = 'https://api.anthropic.com/v1';
const OPENAI_KEY = 'sk-proj-upstreamsecret0123456789';
const ANTHROPIC_KEY = 'sk-ant-api03-upstreamsecret0123456789';
const msw = mockProviders();
let gw: TestGateway;
let openai: OpenAI;
let anthropic: Anthropic;

/**
 * Real providers on loopback that stream slowly, one serving the Responses API and one the
 * Messages API, to see the gateway hang up on them when its client leaves mid-stream (msw does
 * not report a client's abort of a mocked response).
 */
function slowProvider(sse: string) {
  const state = { closedEarly: 0, server: createServer() };
  state.server.on('request', (req, res) => {
    if (req.method === 'GET') return res.end(JSON.stringify({ object: 'list', data: [{ id: 'slow-model', object: 'model', created: 0, owned_by: 'x' }] }));
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const events = fixture(sse).split('\n\n').filter(Boolean);
    let i = 0;
    const timer = setInterval(() => (i < events.length ? res.write(`${events[i++]}\n\n`) : (clearInterval(timer), res.end())), 200);
    res.on('close', () => {
      clearInterval(timer);
      if (i < events.length) state.closedEarly++;
    });
  });
  return state;
}
const slowResponses = slowProvider('openai/responses-stream.sse');
const slowMessages = slowProvider('anthropic/stream-text.sse');
const port = (s: { server: ReturnType<typeof createServer> }) => (s.server.address() as AddressInfo).port;

interface Sent {
  url: string;
  method: string;
  headers: Headers;
  body: string;
}
const sent: Sent[] = [];
const json = (s: Sent) => JSON.parse(s.body) as Record<string, any>;

/** Mocks one provider endpoint, keeping what the gateway sent it. */
function provide(method: 'get' | 'post' | 'delete', url: string, reply: () => Response) {
  msw.use(
    http[method](url, async ({ request }) => {
      sent.push({ url: request.url, method: request.method, headers: request.headers, body: await request.text() });
      return reply();
    }),
  );
}

const modelLists = () => [
  http.get(`${OPENAI}/models`, () => HttpResponse.json(jsonFixture('openai/models.json'))),
  http.get(`${ANTHROPIC}/models`, () => HttpResponse.json({ data: [{ id: 'claude-sonnet-4-5', type: 'model' }], has_more: false })),
];

beforeAll(async () => {
  await Promise.all([slowResponses, slowMessages].map((s) => new Promise<void>((done) => s.server.listen(0, '127.0.0.1', done))));
  msw.use(...modelLists());
  gw = await startTestGateway({
    GOMODEL_MASTER_KEY: KEY,
    OPENAI_API_KEY: OPENAI_KEY,
    ANTHROPIC_API_KEY: ANTHROPIC_KEY,
    OPENAI_SLOW_BASE_URL: `http://127.0.0.1:${port(slowResponses)}/v1`,
    ANTHROPIC_SLOW_BASE_URL: `http://127.0.0.1:${port(slowMessages)}/v1`,
    ANTHROPIC_SLOW_API_KEY: 'sk-ant-slow',
    TAGGING_HEADER_1: 'X-Team-Labels',
    RETRY_INITIAL_BACKOFF: '5ms',
    USAGE_FLUSH_INTERVAL: '1s',
  });
  openai = new OpenAI({ apiKey: KEY, baseURL: `${gw.url}/v1`, maxRetries: 0, fetch: realFetch });
  anthropic = new Anthropic({ apiKey: KEY, baseURL: gw.url, maxRetries: 0, fetch: realFetch });
});
afterEach(() => {
  msw.resetHandlers(...modelLists());
  sent.length = 0;
});
afterAll(async () => {
  await gw.stop();
  msw.close();
  slowResponses.server.close();
  slowMessages.server.close();
});

/** The usage row of a request, read back through the admin API; waits up to 2 s for exactly one. */
async function usageOf(requestId: string) {
  let entry: NonNullable<NonNullable<Awaited<ReturnType<typeof admin.getUsageLog>>['data']>['entries']>[number] | undefined;
  await expect
    .poll(
      async () => {
        const { data } = await admin.getUsageLog({ client: gw.client, query: { search: requestId, cache_mode: 'all' } });
        entry = data?.entries?.[0];
        return data?.total;
      },
      { timeout: 2000, interval: 50 },
    )
    .toBe(1);
  return entry!;
}

describe('/v1/responses with the official openai SDK', () => {
  it('relays a request to OpenAI natively, unknown fields and all, and records its usage with reasoning and cache split', async () => {
    provide('post', `${OPENAI}/responses`, () => HttpResponse.json(jsonFixture('openai/responses.json')));
    const response = await openai.responses.create(
      { model: 'openai/gpt-5-mini', input: 'Capital of France?', reasoning: { effort: 'medium', summary: 'auto' }, include: ['reasoning.encrypted_content'], store: false },
      { headers: { 'X-Request-ID': 'req-resp-native', 'X-GoModel-User-Path': '/team/agents', 'X-Team-Labels': 'codex' } },
    );
    expect(response.output_text).toBe('The capital of France is Paris.');
    expect(response.id).toBe('resp_68af4030592c81938ec0a5fbab4a3e9f05438e46b5f69a3b');
    expect(sent[0]!.headers.get('authorization')).toBe(`Bearer ${OPENAI_KEY}`);
    expect(json(sent[0]!)).toEqual({ model: 'gpt-5-mini', input: 'Capital of France?', reasoning: { effort: 'medium', summary: 'auto' }, include: ['reasoning.encrypted_content'], store: false });
    const row = await usageOf('req-resp-native');
    expect(row).toMatchObject({
      provider_id: 'resp_68af4030592c81938ec0a5fbab4a3e9f05438e46b5f69a3b',
      model: 'gpt-5-mini-2025-08-07',
      provider: 'openai',
      endpoint: '/v1/responses',
      user_path: '/team/agents',
      input_tokens: 1290,
      cached_input_tokens: 1152,
      uncached_input_tokens: 138,
      output_tokens: 211,
      raw_data: { prompt_cached_tokens: 1152, completion_reasoning_tokens: 192 },
      cost_source: 'model_pricing',
      // gpt-5-mini: $0.25 input, $0.025 cached, $2.00 output per million:
      // 138×0.25 + 1152×0.025 = 63.3 µ$; 211×2.00 = 422 µ$
      input_cost: 0.0000633,
      output_cost: 0.000422,
      total_cost: 0.0004853,
    });
    const labels = await admin.getLabelUsage({ client: gw.client, query: { days: 1 } });
    expect(labels.data?.map((l) => l.label)).toContain('codex');
  });

  it('relays a native stream event by event and records the usage of response.completed', async () => {
    provide('post', `${OPENAI}/responses`, () => sseResponse(fixture('openai/responses-stream.sse'), { delayMs: 30 }));
    const stream = openai.responses.stream({ model: 'openai/gpt-4.1-mini', input: 'Hello' }, { headers: { 'X-Request-ID': 'req-resp-native-stream' } });
    const arrivals: number[] = [];
    let text = '';
    for await (const ev of stream) {
      arrivals.push(performance.now());
      if (ev.type === 'response.output_text.delta') text += ev.delta;
    }
    const final = await stream.finalResponse();
    expect(text).toBe('Hello! Zażółć gęślą jaźń — how can I help you today? 👋');
    expect(final.output).toMatchObject([{ type: 'message', content: [{ type: 'output_text', text }] }]);
    expect(final.usage?.input_tokens).toBe(1117);
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThan(200);
    const row = await usageOf('req-resp-native-stream');
    expect(row).toMatchObject({ endpoint: '/v1/responses', input_tokens: 1117, cached_input_tokens: 1024, output_tokens: 46, provider_id: 'resp_68af4f1b6c3c8190a2e4b6a1d6c2f0a80c5e2b1e7f3d9a11' });
  });

  it('translates a request for Anthropic to Messages and the reply back to a Response', async () => {
    provide('post', `${ANTHROPIC}/messages`, () => HttpResponse.json(jsonFixture('anthropic/message.json')));
    const response = await openai.responses.create(
      { model: 'claude-sonnet-4-5', instructions: 'Be brief.', input: [{ role: 'user', content: [{ type: 'input_text', text: 'Capital of France?' }] }], max_output_tokens: 100 },
      { headers: { 'X-Request-ID': 'req-resp-translated' } },
    );
    expect(response.output_text).toBe('The capital of France is Paris.');
    expect(response.status).toBe('completed');
    expect(response.usage).toMatchObject({ input_tokens: 1745, input_tokens_details: { cached_tokens: 1536 }, output_tokens: 11 });
    expect(sent[0]!.headers.get('x-api-key')).toBe(ANTHROPIC_KEY);
    expect(json(sent[0]!)).toMatchObject({ model: 'claude-sonnet-4-5', system: [{ type: 'text', text: 'Be brief.' }], max_tokens: 100, messages: [{ role: 'user', content: [{ type: 'text', text: 'Capital of France?' }] }] });
    const row = await usageOf('req-resp-translated');
    expect(row).toMatchObject({
      provider: 'anthropic',
      endpoint: '/v1/responses',
      provider_id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
      input_tokens: 1745,
      cached_input_tokens: 1536,
      cache_write_input_tokens: 188,
      output_tokens: 11,
      // claude-sonnet-4-5: $3 input, $0.30 cache read, $3.75 cache write, $15 output per million:
      // 21×3 + 1536×0.30 + 188×3.75 = 1228.8 µ$; 11×15 = 165 µ$
      total_cost: 0.0013938,
    });
  });

  it('streams a translated reply as typed events the SDK assembles, function calls included', async () => {
    provide('post', `${ANTHROPIC}/messages`, () => sseResponse(fixture('anthropic/stream-tool-use.sse'), { delayMs: 10 }));
    const stream = openai.responses.stream(
      { model: 'claude-sonnet-4-5', input: 'Weather in SF and NYC?', tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } }, strict: false }] },
      { headers: { 'X-Request-ID': 'req-resp-translated-stream' } },
    );
    const types = new Set<string>();
    for await (const ev of stream) types.add(ev.type);
    const final = await stream.finalResponse();
    expect([...types]).toEqual(expect.arrayContaining(['response.created', 'response.output_text.delta', 'response.function_call_arguments.delta', 'response.completed']));
    const calls = final.output.filter((o) => o.type === 'function_call');
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) expect(JSON.parse(call.arguments)).toHaveProperty('location');
    expect(json(sent[0]!).tools[0]).toMatchObject({ name: 'get_weather', input_schema: { type: 'object' } });
    const row = await usageOf('req-resp-translated-stream');
    expect(row).toMatchObject({ endpoint: '/v1/responses', provider: 'anthropic', input_tokens: 472 });
    expect(row.output_tokens).toBeGreaterThan(0);
  });

  it('refuses previous_response_id for a translated provider with a 400 that says why', async () => {
    const err = await openai.responses.create({ model: 'claude-sonnet-4-5', input: 'and then?', previous_response_id: 'resp_1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).message).toMatch(/previous_response_id/);
    expect(sent).toHaveLength(0);
  });

  it('retrieves, lists input items of, cancels and deletes stored responses at the provider', async () => {
    const id = 'resp_68af4030592c81938ec0a5fbab4a3e9f05438e46b5f69a3b';
    provide('get', `${OPENAI}/responses/${id}`, () => HttpResponse.json(jsonFixture('openai/responses.json')));
    provide('get', `${OPENAI}/responses/${id}/input_items`, () => HttpResponse.json({ object: 'list', data: [{ id: 'msg_1', type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }], first_id: 'msg_1', last_id: 'msg_1', has_more: false }));
    provide('post', `${OPENAI}/responses/${id}/cancel`, () => HttpResponse.json(Object.assign(jsonFixture('openai/responses.json'), { status: 'cancelled' })));
    provide('delete', `${OPENAI}/responses/${id}`, () => HttpResponse.json(jsonFixture('openai/responses-deleted.json')));
    expect((await openai.responses.retrieve(id)).output_text).toBe('The capital of France is Paris.');
    expect((await openai.responses.inputItems.list(id, { limit: 5 })).data).toHaveLength(1);
    expect((await openai.responses.cancel(id)).status).toBe('cancelled');
    await openai.responses.delete(id);
    expect(sent.map((s) => `${s.method} ${new URL(s.url).pathname}${new URL(s.url).search}`)).toEqual([
      `GET /v1/responses/${id}`,
      `GET /v1/responses/${id}/input_items?limit=5`,
      `POST /v1/responses/${id}/cancel`,
      `DELETE /v1/responses/${id}`,
    ]);
    for (const s of sent) expect(s.headers.get('authorization')).toBe(`Bearer ${OPENAI_KEY}`);
    const missing = await openai.responses.retrieve('resp_x', { provider: 'anthropic' } as never).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('counts input tokens at OpenAI, and estimates them for a translated provider', async () => {
    provide('post', `${OPENAI}/responses/input_tokens`, () => HttpResponse.json(jsonFixture('openai/responses-input-tokens.json')));
    const native = await realFetch(`${gw.url}/v1/responses/input_tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'openai/gpt-5-mini', input: 'Capital of France?' }),
    });
    expect(await native.json()).toEqual({ object: 'response.input_tokens', input_tokens: 1290 });
    const estimated = await realFetch(`${gw.url}/v1/responses/input_tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-sonnet-4-5', input: 'x'.repeat(400) }),
    });
    expect(await estimated.json()).toEqual({ object: 'response.input_tokens', input_tokens: 100 });
  });

  it('hangs up on the provider when the client leaves mid-stream, and still records the request', async () => {
    const controller = new AbortController();
    const stream = await openai.responses.create({ model: 'openai-slow/slow-model', input: 'Hello', stream: true }, { headers: { 'X-Request-ID': 'req-resp-gone' }, signal: controller.signal });
    await (async () => {
      for await (const _ of stream) controller.abort();
    })().catch(() => {});
    await expect.poll(() => slowResponses.closedEarly, { timeout: 3000 }).toBe(1);
    const row = await usageOf('req-resp-gone');
    expect(row).toMatchObject({ endpoint: '/v1/responses', input_tokens: 0, costs_calculation_caveat: 'client disconnected before the provider reported usage' });
  });
});

describe('/v1/messages with the official Anthropic SDK', () => {
  it('relays a request to Anthropic natively with the version and beta headers, and records cache reads and writes', async () => {
    provide('post', `${ANTHROPIC}/messages`, () => HttpResponse.json(jsonFixture('anthropic/message.json')));
    const message = await anthropic.messages.create(
      {
        model: 'claude-sonnet-4-5',
        max_tokens: 256,
        system: [{ type: 'text', text: 'Long prompt', cache_control: { type: 'ephemeral' } }],
        messages: [{ role: 'user', content: 'Capital of France?' }],
        thinking: { type: 'enabled', budget_tokens: 1024 },
      },
      { headers: { 'X-Request-ID': 'req-msg-native', 'anthropic-version': '2023-06-01', 'anthropic-beta': 'context-1m-2025-08-07' } },
    );
    expect(message).toEqual(jsonFixture('anthropic/message.json'));
    const upstream = sent[0]!;
    expect(upstream.headers.get('x-api-key')).toBe(ANTHROPIC_KEY);
    expect(upstream.headers.get('anthropic-version')).toBe('2023-06-01');
    expect(upstream.headers.get('anthropic-beta')).toBe('context-1m-2025-08-07');
    expect(json(upstream)).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 1024 }, system: [{ cache_control: { type: 'ephemeral' } }] });
    const row = await usageOf('req-msg-native');
    expect(row).toMatchObject({ endpoint: '/v1/messages', provider: 'anthropic', input_tokens: 1745, cached_input_tokens: 1536, cache_write_input_tokens: 188, output_tokens: 11, total_cost: 0.0013938 });
  });

  it('relays a native stream and records usage from message_start and message_delta', async () => {
    provide('post', `${ANTHROPIC}/messages`, () => sseResponse(fixture('anthropic/stream-thinking.sse'), { delayMs: 30 }));
    const stream = anthropic.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: '27 * 453?' }] }, { headers: { 'X-Request-ID': 'req-msg-native-stream' } });
    const final = await stream.finalMessage();
    expect(final.content.map((b) => b.type)).toEqual(['thinking', 'text']);
    expect(final.usage.output_tokens).toBe(96);
    const row = await usageOf('req-msg-native-stream');
    expect(row).toMatchObject({ endpoint: '/v1/messages', input_tokens: 58, output_tokens: 96, provider_id: 'msg_01Vf3tQwBkbYhZ9cXhVb8aR4' });
  });

  it('translates a request for OpenAI to chat completions and the reply back to a Message', async () => {
    provide('post', `${OPENAI}/chat/completions`, () => HttpResponse.json(jsonFixture('openai/chat.json')));
    const message = await anthropic.messages.create(
      { model: 'gpt-4o-mini', max_tokens: 100, system: 'Be brief.', messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } }] }] },
      { headers: { 'X-Request-ID': 'req-msg-translated' } },
    );
    expect(message.content).toEqual([{ type: 'text', text: 'Hello! How can I help you today?' }]);
    expect(message.usage).toMatchObject({ input_tokens: 93, cache_read_input_tokens: 1024, output_tokens: 46 });
    expect(sent[0]!.headers.get('authorization')).toBe(`Bearer ${OPENAI_KEY}`);
    expect(json(sent[0]!)).toMatchObject({
      model: 'gpt-4o-mini',
      max_tokens: 100,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'Hello' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] },
      ],
    });
    const row = await usageOf('req-msg-translated');
    // The same request as chat completions costs the same: 90.75 + 27.6 µ$.
    expect(row).toMatchObject({ endpoint: '/v1/messages', provider: 'openai', input_tokens: 1117, cached_input_tokens: 1024, output_tokens: 46, total_cost: 0.00011835 });
  });

  it('streams a translated reply as Anthropic events, usage in message_delta', async () => {
    provide('post', `${OPENAI}/chat/completions`, () => sseResponse(fixture('openai/stream.sse'), { delayMs: 10 }));
    const stream = anthropic.messages.stream({ model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: 'Hello' }] }, { headers: { 'X-Request-ID': 'req-msg-translated-stream' } });
    let text = '';
    stream.on('text', (t) => (text += t));
    const final = await stream.finalMessage();
    expect(text).toBe('Hello! How can I help?');
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage).toMatchObject({ input_tokens: 128, cache_read_input_tokens: 1920, output_tokens: 7 });
    expect(json(sent[0]!)).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    const row = await usageOf('req-msg-translated-stream');
    expect(row).toMatchObject({ endpoint: '/v1/messages', input_tokens: 2048, output_tokens: 7, total_cost: 0.0001674 });
  });

  it('counts tokens at Anthropic, and estimates them for a translated provider', async () => {
    provide('post', `${ANTHROPIC}/messages/count_tokens`, () => HttpResponse.json(jsonFixture('anthropic/count-tokens.json')));
    const native = await anthropic.messages.countTokens({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Hello' }] });
    expect(native.input_tokens).toBe(2095);
    expect(sent[0]!.headers.get('x-api-key')).toBe(ANTHROPIC_KEY);
    const estimated = await anthropic.messages.countTokens({ model: 'gpt-4o-mini', system: 'y'.repeat(40), messages: [{ role: 'user', content: 'x'.repeat(400) }] });
    expect(estimated.input_tokens).toBe(110);
  });

  it("answers in Anthropic's error envelope, and takes the key as x-api-key", async () => {
    const wrong = new Anthropic({ apiKey: 'nope', baseURL: gw.url, maxRetries: 0, fetch: realFetch });
    const denied = await wrong.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(Anthropic.AuthenticationError);
    const unknown = await anthropic.messages.create({ model: 'no-such-model', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(Anthropic.NotFoundError);
    expect((unknown as InstanceType<typeof Anthropic.NotFoundError>).error).toMatchObject({ type: 'error', error: { type: 'not_found_error', message: 'unsupported model: no-such-model' } });
    const bad = await anthropic.messages.create({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'x' } }] }] }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(Anthropic.BadRequestError);
  });

  it('hangs up on the provider when the client leaves mid-stream, and still records the request', async () => {
    const controller = new AbortController();
    const stream = await anthropic.messages.create({ model: 'anthropic-slow/slow-model', max_tokens: 100, messages: [{ role: 'user', content: 'Hello' }], stream: true }, { headers: { 'X-Request-ID': 'req-msg-gone' }, signal: controller.signal });
    await (async () => {
      for await (const _ of stream) controller.abort();
    })().catch(() => {});
    await expect.poll(() => slowMessages.closedEarly, { timeout: 3000 }).toBe(1);
    // message_start had come: its input and cache counts are what the row can say.
    const row = await usageOf('req-msg-gone');
    expect(row).toMatchObject({ endpoint: '/v1/messages', provider_name: 'anthropic-slow', input_tokens: 1525, cached_input_tokens: 1200 });
  });
});

describe('provider passthrough /p/{provider}/{endpoint}', () => {
  const call = (path: string, init: RequestInit = {}) => realFetch(`${gw.url}${path}`, { ...init, headers: { authorization: `Bearer ${KEY}`, ...(init.headers as Record<string, string>) } });

  it("relays a request with the gateway's credentials and returns the reply byte for byte, with its usage recorded", async () => {
    const raw = fixture('openai/chat.json');
    provide('post', `${OPENAI}/chat/completions`, () => new HttpResponse(raw, { status: 200, headers: { 'content-type': 'application/json', 'openai-processing-ms': '321' } }));
    const res = await call('/p/openai/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'req-pt-1' }, body: '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' });
    expect(await res.text()).toBe(raw);
    expect(res.headers.get('openai-processing-ms')).toBe('321');
    expect(sent[0]!.headers.get('authorization')).toBe(`Bearer ${OPENAI_KEY}`);
    expect(sent[0]!.body).toBe('{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}');
    const row = await usageOf('req-pt-1');
    expect(row).toMatchObject({ endpoint: '/p/openai/v1/chat/completions', model: 'gpt-4o-mini-2024-07-18', input_tokens: 1117, output_tokens: 46, total_cost: 0.00011835 });
  });

  it('relays a stream untouched and reads its usage', async () => {
    const raw = fixture('anthropic/stream-text.sse');
    provide('post', `${ANTHROPIC}/messages`, () => sseResponse(raw));
    const res = await call('/p/anthropic/messages', { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'client-key', 'anthropic-version': '2023-06-01', 'x-request-id': 'req-pt-2' }, body: '{"model":"claude-sonnet-4-5","max_tokens":5,"stream":true,"messages":[]}' });
    expect(await res.text()).toBe(raw);
    expect(sent[0]!.headers.get('x-api-key')).toBe(ANTHROPIC_KEY);
    const row = await usageOf('req-pt-2');
    expect(row).toMatchObject({ endpoint: '/p/anthropic/messages', input_tokens: 1525, cached_input_tokens: 1200, output_tokens: 19 });
  });

  it('records a reply of no known shape with zero tokens, unknown cost and a caveat, and passes provider errors through', async () => {
    provide('get', `${OPENAI}/files`, () => HttpResponse.json({ object: 'list', data: [] }));
    const res = await call('/p/openai/files?purpose=batch', { headers: { 'x-request-id': 'req-pt-3' } });
    expect(await res.json()).toEqual({ object: 'list', data: [] });
    expect(new URL(sent[0]!.url).search).toBe('?purpose=batch');
    const row = await usageOf('req-pt-3');
    expect(row).toMatchObject({ endpoint: '/p/openai/files', input_tokens: 0, costs_calculation_caveat: 'passthrough reply carries no usage the gateway reads' });
    expect(row).not.toHaveProperty('total_cost');
    provide('delete', `${OPENAI}/files/file-1`, () => HttpResponse.json({ error: { message: 'No such File object: file-1', type: 'invalid_request_error' } }, { status: 404 }));
    const missing = await call('/p/openai/files/file-1', { method: 'DELETE', headers: { 'x-request-id': 'req-pt-4' } });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { message: 'No such File object: file-1', type: 'invalid_request_error' } });
    // A provider error quoting the gateway's key reaches the client scrubbed; a refused request has no row.
    provide('get', `${OPENAI}/models`, () => HttpResponse.json({ error: { message: `Incorrect API key provided: ${OPENAI_KEY}.` } }, { status: 401 }));
    const denied = await call('/p/openai/models');
    expect(denied.status).toBe(401);
    expect(await denied.text()).toBe('{"error":{"message":"Incorrect API key provided: [redacted]."}}');
    const { data } = await admin.getUsageLog({ client: gw.client, query: { search: 'req-pt-4', cache_mode: 'all' } });
    expect(data?.total).toBe(0);
  });

  it('refuses an unknown provider, a path that climbs out, and a request without the key', async () => {
    expect((await call('/p/nope/models')).status).toBe(404);
    expect((await call('/p/openai/..%2F..%2Fadmin')).status).toBe(400);
    expect((await realFetch(`${gw.url}/p/openai/models`)).status).toBe(401);
    expect(sent).toHaveLength(0);
  });
});

describe('budgets', () => {
  it('reserves before and settles after on /v1/messages and /v1/responses as on chat', async () => {
    await admin.upsertBudget({ client: gw.client, body: { user_path: '/tight', budget_key: { period: 'daily' }, amount: 0.000001 } });
    const headers = { 'X-GoModel-User-Path': '/tight' };
    const msg = await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 1000, messages: [{ role: 'user', content: 'x' }] }, { headers }).catch((e: unknown) => e);
    expect(msg).toBeInstanceOf(Anthropic.RateLimitError);
    const resp = await openai.responses.create({ model: 'openai/gpt-5-mini', input: 'x', max_output_tokens: 1000 }, { headers }).catch((e: unknown) => e);
    expect(resp).toBeInstanceOf(OpenAI.RateLimitError);
    expect(sent).toHaveLength(0);
  });
});
