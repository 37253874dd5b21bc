import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as admin from '../../generated/sdk.gen.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { fixture, http, HttpResponse, jsonFixture, mockProviders, realFetch, sseResponse } from '../support/providers.ts';

const KEY = 'sk-gateway-master';
const OPENAI = 'https://api.openai.com/v1';
const UPSTREAM_KEY = 'sk-proj-upstreamsecret0123456789';
const msw = mockProviders();
let gw: TestGateway;
let sdk: OpenAI;

/**
 * A real provider on loopback that streams slowly, to observe the gateway hanging up on it
 * (msw does not report a client's abort of a mocked response).
 */
const slow = {
  closedEarly: 0,
  /** While set, a stream's headers go out at once and its events wait for this to settle. */
  held: null as Promise<void> | null,
  server: createServer(async (req, res) => {
    if (req.method === 'GET') return res.end(JSON.stringify({ object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 0, owned_by: 'x' }] }));
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    if (slow.held) {
      res.flushHeaders();
      await slow.held;
    }
    const events = fixture('openai/stream.sse').split('\n\n').filter(Boolean);
    let i = 0;
    const timer = setInterval(() => (i < events.length ? res.write(`${events[i++]}\n\n`) : (clearInterval(timer), res.end())), 200);
    res.on('close', () => {
      clearInterval(timer);
      if (i < events.length) slow.closedEarly++;
    });
  }),
};

const upstreamRequests: { url: string; headers: Headers; body: unknown }[] = [];

beforeAll(async () => {
  await new Promise<void>((done) => slow.server.listen(0, '127.0.0.1', done));
  msw.use(http.get(`${OPENAI}/models`, () => HttpResponse.json(jsonFixture('openai/models.json'))));
  gw = await startTestGateway({
    GOMODEL_MASTER_KEY: KEY,
    OPENAI_API_KEY: UPSTREAM_KEY,
    OPENAI_SLOW_BASE_URL: `http://127.0.0.1:${(slow.server.address() as AddressInfo).port}/v1`,
    TAGGING_HEADER_1: 'X-Team-Labels',
    TAGGING_HEADER_1_PREFIX: 'team:',
    RETRY_INITIAL_BACKOFF: '5ms',
    USAGE_FLUSH_INTERVAL: '1s',
  });
  sdk = new OpenAI({ apiKey: KEY, baseURL: `${gw.url}/v1`, maxRetries: 0, fetch: realFetch });
});
afterEach(() => {
  msw.resetHandlers(http.get(`${OPENAI}/models`, () => HttpResponse.json(jsonFixture('openai/models.json'))));
  upstreamRequests.length = 0;
});
afterAll(async () => {
  await gw.stop();
  msw.close();
  slow.server.close();
});

function captureChat(reply: (body: Record<string, unknown>) => Response | Promise<Response>) {
  msw.use(
    http.post(`${OPENAI}/chat/completions`, async ({ request }) => {
      const body = (await request.json()) as Record<string, unknown>;
      upstreamRequests.push({ url: request.url, headers: request.headers, body });
      return reply(body);
    }),
  );
}

/** The usage row of a request, read back through the admin API with the generated client; waits up to 2 s. */
async function usageOf(requestId: string) {
  let entry: NonNullable<NonNullable<Awaited<ReturnType<typeof admin.getUsageLog>>['data']>['entries']>[number] | undefined;
  await expect
    .poll(
      async () => {
        const { data } = await admin.getUsageLog({ client: gw.client, query: { search: requestId, cache_mode: 'all' } });
        entry = data?.entries?.[0];
        // The page and its total are separate queries: a row written between them shows in one only.
        return [data?.total, data?.entries?.length];
      },
      { timeout: 2000, interval: 50 },
    )
    .toEqual([1, 1]);
  return entry!;
}

describe('chat completions through the official openai SDK', () => {
  it('relays a completion unchanged and records its exact usage and cost', async () => {
    captureChat(() => HttpResponse.json(jsonFixture('openai/chat.json')));
    const completion = await sdk.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], temperature: 0.2, logit_bias: { '50256': -100 } },
      { headers: { 'X-Request-ID': 'req-chat-1', 'X-GoModel-User-Path': 'team/alpha/', 'X-Team-Labels': 'team:search, team:web,team:search' } },
    );
    expect(completion).toEqual(jsonFixture('openai/chat.json'));
    const sent = upstreamRequests[0]!;
    expect(sent.headers.get('authorization')).toBe(`Bearer ${UPSTREAM_KEY}`);
    expect(sent.body).toMatchObject({ model: 'gpt-4o-mini', temperature: 0.2, logit_bias: { '50256': -100 } });

    const row = await usageOf('req-chat-1');
    expect(row).toMatchObject({
      request_id: 'req-chat-1',
      provider_id: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
      model: 'gpt-4o-mini-2024-07-18',
      provider: 'openai',
      provider_name: 'openai',
      endpoint: '/v1/chat/completions',
      user_path: '/team/alpha',
      input_tokens: 1117,
      output_tokens: 46,
      total_tokens: 1163,
      cached_input_tokens: 1024,
      uncached_input_tokens: 93,
      cache_write_input_tokens: 0,
      raw_data: { prompt_cached_tokens: 1024 },
      cost_source: 'model_pricing',
      // gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output per million tokens
      // input 93×0.15 + 1024×0.075 = 90.75 µ$; output 46×0.60 = 27.6 µ$
      input_cost: 0.00009075,
      output_cost: 0.0000276,
      total_cost: 0.00011835,
    });
    const labels = await admin.getLabelUsage({ client: gw.client, query: { days: 1 } });
    expect(labels.data?.map((l) => [l.label, l.requests])).toEqual([['search', 1], ['web', 1]]);
  });

  it('streams chunks as they arrive, asks for usage, and records it', async () => {
    captureChat(() => sseResponse(fixture('openai/stream.sse'), { delayMs: 30 }));
    const stream = await sdk.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], stream: true },
      { headers: { 'X-Request-ID': 'req-stream-1' } },
    );
    const arrivals: number[] = [];
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      arrivals.push(performance.now());
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('Hello! How can I help?');
    expect(usage?.prompt_tokens_details?.cached_tokens).toBe(1920);
    // chunks were relayed one by one, not buffered until the end
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThan(100);
    expect(upstreamRequests[0]!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    const row = await usageOf('req-stream-1');
    // input 128×0.15 + 1920×0.075 = 163.2 µ$; output 7×0.60 = 4.2 µ$
    expect(row).toMatchObject({ input_tokens: 2048, cached_input_tokens: 1920, uncached_input_tokens: 128, output_tokens: 7, total_tokens: 2055, total_cost: 0.0001674 });
  });

  it('passes a provider\'s keep-alive comments on to the client as they come', async () => {
    const [first, ...rest] = fixture('openai/stream.sse').split('\n\n').filter(Boolean);
    captureChat(() => sseResponse([first, ': OPENROUTER PROCESSING', ...rest].join('\n\n'), { delayMs: 30 }));
    const res = await realFetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], stream: true }),
    });
    const text = await res.text();
    expect(text.startsWith(`${first}\n\n: OPENROUTER PROCESSING\n\n`)).toBe(true);
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('opens the stream to the client while the provider still holds its first event', async () => {
    let released = false;
    slow.held = new Promise<void>((resolve) => setTimeout(() => resolve(void (released = true)), 3000));
    try {
      // create() resolves on the response headers, which must not wait for the first event.
      const stream = await sdk.chat.completions.create({ model: 'openai-slow/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], stream: true });
      expect(released).toBe(false);
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      expect(text).toBe('Hello! How can I help?');
    } finally {
      slow.held = null;
    }
  });

  it('routes a provider/model selector and strips the routing hint', async () => {
    captureChat(() => HttpResponse.json(jsonFixture('openai/chat.json')));
    await sdk.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    await sdk.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }], provider: 'openai' } as never);
    expect(upstreamRequests.map((r) => (r.body as { model: string }).model)).toEqual(['gpt-4o', 'gpt-4o']);
    expect(upstreamRequests[1]!.body).not.toHaveProperty('provider');
  });

  it('turns max_tokens into max_completion_tokens for OpenAI reasoning models', async () => {
    captureChat(() => HttpResponse.json(jsonFixture('openai/chat.json')));
    await sdk.chat.completions.create({ model: 'o3-mini', messages: [{ role: 'user', content: 'x' }], max_tokens: 50 });
    expect(upstreamRequests[0]!.body).toMatchObject({ max_completion_tokens: 50 });
    expect(upstreamRequests[0]!.body).not.toHaveProperty('max_tokens');
  });
});

describe('errors', () => {
  it('answers an unknown model with 404 model_not_found', async () => {
    const err = await sdk.chat.completions.create({ model: 'gpt-9-ultra', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
  });

  it('keeps the status and message of a provider 4xx', async () => {
    captureChat(() => HttpResponse.json(jsonFixture('openai/error-400.json'), { status: 400 }));
    const err = (await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], temperature: 3 }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.BadRequestError>;
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.message).toContain("Invalid value for 'temperature'");
    expect([err.param, err.code]).toEqual(['temperature', 'invalid_value']);
  });

  it('never leaks the provider key or its error text on a credential failure', async () => {
    captureChat(() => HttpResponse.json(jsonFixture('openai/error-401.json'), { status: 401 }));
    const res = await realFetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    });
    const text = await res.text();
    expect(res.status).toBe(401);
    expect(text).not.toContain('sk-proj');
    expect(text).not.toContain('platform.openai.com');
    expect(JSON.parse(text)).toEqual({ error: { type: 'authentication_error', message: "provider openai rejected the gateway's credentials (status 401)", param: null, code: 'invalid_api_key' } });
  });

  it('retries a 429 with backoff and succeeds', async () => {
    let calls = 0;
    captureChat(() => (++calls < 3 ? HttpResponse.json(jsonFixture('openai/error-429.json'), { status: 429, headers: { 'retry-after': '0' } }) : HttpResponse.json(jsonFixture('openai/chat.json'))));
    const completion = await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    expect(completion.id).toBe('chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG');
    expect(calls).toBe(3);
  });

  it('gives up after RETRY_MAX_RETRIES and maps an HTML 502 page to 502 without its body', async () => {
    let calls = 0;
    captureChat(() => {
      calls++;
      return new HttpResponse(fixture('openai/error-502.html'), { status: 502, headers: { 'content-type': 'text/html' } });
    });
    const res = await realFetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(calls).toBe(4);
    expect(res.status).toBe(502);
    const body = (await res.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe('provider_error');
    expect(body.error.message).not.toContain('cloudflare');
  });

  it('answers 502 for a malformed JSON reply', async () => {
    captureChat(() => new HttpResponse('{"id": "chatcmpl-1", "choices": [', { status: 200, headers: { 'content-type': 'application/json' } }));
    const err = (await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(err.status).toBe(502);
    expect(err.code).toBe('bad_upstream_response');
  });

  it('refuses an invalid user path header with 400', async () => {
    const err = (await sdk.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'X-GoModel-User-Path': '/team/../admin' } })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.BadRequestError>;
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.param).toBe('X-GoModel-User-Path');
  });
});

describe('streams that go wrong', () => {
  it('ends a stream cut mid-way with an error event, and still records the request', async () => {
    captureChat(() => sseResponse(fixture('openai/stream.sse'), { cutAfter: 3 }));
    const stream = await sdk.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], stream: true },
      { headers: { 'X-Request-ID': 'req-cut-1' } },
    );
    let text = '';
    const err = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    })().catch((e: unknown) => e);
    expect(text).toBe('Hello!');
    expect(err).toBeInstanceOf(OpenAI.APIError);
    const row = await usageOf('req-cut-1');
    expect(row).toMatchObject({ input_tokens: 0, output_tokens: 0, costs_calculation_caveat: 'stream failed before the provider reported usage' });
    expect(row).not.toHaveProperty('total_cost');
  });

  it('records a stream whose provider sent no usage, with a caveat instead of a guess', async () => {
    const withoutUsage = fixture('openai/stream.sse').split('\n\n').filter((e) => !e.includes('"usage":{')).join('\n\n');
    captureChat(() => sseResponse(withoutUsage));
    const stream = await sdk.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], stream: true },
      { headers: { 'X-Request-ID': 'req-nousage-1' } },
    );
    for await (const _ of stream);
    const row = await usageOf('req-nousage-1');
    expect(row).toMatchObject({ input_tokens: 0, costs_calculation_caveat: 'provider reported no usage for this stream' });
  });

  it('aborts the upstream request when the client disconnects', async () => {
    const controller = new AbortController();
    const stream = await sdk.chat.completions.create(
      { model: 'openai-slow/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], stream: true },
      { headers: { 'X-Request-ID': 'req-gone-1' }, signal: controller.signal },
    );
    await (async () => {
      for await (const _ of stream) controller.abort();
    })().catch(() => {});
    await expect.poll(() => slow.closedEarly, { timeout: 2000 }).toBe(1);
    const row = await usageOf('req-gone-1');
    expect(row.costs_calculation_caveat).toBe('client disconnected before the provider reported usage');
  });
});

describe('embeddings and models', () => {
  it('relays embeddings and records their input tokens', async () => {
    msw.use(http.post(`${OPENAI}/embeddings`, () => HttpResponse.json(jsonFixture('openai/embeddings.json'))));
    const result = await sdk.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] }, { headers: { 'X-Request-ID': 'req-emb-1' } });
    expect(result.data).toHaveLength(2);
    const row = await usageOf('req-emb-1');
    expect(row).toMatchObject({ endpoint: '/v1/embeddings', input_tokens: 12, output_tokens: 0, total_tokens: 12 });
  });

  it('lists every model of every provider as provider/model selectors', async () => {
    const list = await sdk.models.list();
    expect(list.data.map((m) => m.id)).toEqual(['openai/gpt-4o', 'openai/gpt-4o-mini', 'openai/o3-mini', 'openai/text-embedding-3-small', 'openai-slow/gpt-4o-mini']);
    expect(list.data[0]).toMatchObject({ object: 'model', owned_by: 'openai' });
  });
});
