import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as admin from '../../generated/sdk.gen.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { fixture, http, HttpResponse, jsonFixture, mockProviders, realFetch, sseResponse } from '../support/providers.ts';

const ANTHROPIC = 'https://api.anthropic.com/v1';
const GEMINI = 'https://generativelanguage.googleapis.com/v1beta';
const msw = mockProviders();
let gw: TestGateway;
let sdk: OpenAI;
const seen: { url: string; headers: Headers; body: Record<string, unknown> }[] = [];

const completion = (id: string, model: string, usage: Record<string, unknown>) => ({
  id,
  object: 'chat.completion',
  created: 1763700000,
  model,
  choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, logprobs: null, finish_reason: 'stop' }],
  usage,
});

/** Providers speaking the OpenAI API, each with the usage extras it really reports. */
const openAiStyle = {
  openrouter: {
    base: 'https://openrouter.ai/api/v1',
    model: 'anthropic/claude-sonnet-4.5',
    reply: completion('gen-1763700000-Qm1xYl6Tk2cWb4JrPzNd', 'anthropic/claude-sonnet-4.5', {
      prompt_tokens: 194,
      completion_tokens: 2,
      total_tokens: 196,
      cost: 0.000612,
      is_byok: false,
      prompt_tokens_details: { cached_tokens: 0, cache_write_tokens: 0, audio_tokens: 0 },
      cost_details: { upstream_inference_cost: null, upstream_inference_prompt_cost: 0.000582, upstream_inference_completions_cost: 0.00003 },
      completion_tokens_details: { reasoning_tokens: 0, image_tokens: 0 },
    }),
  },
  xai: {
    base: 'https://api.x.ai/v1',
    model: 'grok-4',
    reply: completion('9b1f5c0e-5d2a-4c7e-8f3a-2b6d1e0c9a47', 'grok-4-0709', {
      prompt_tokens: 32,
      completion_tokens: 9,
      total_tokens: 135,
      prompt_tokens_details: { text_tokens: 32, audio_tokens: 0, image_tokens: 0, cached_tokens: 6 },
      completion_tokens_details: { reasoning_tokens: 94, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
      num_sources_used: 0,
      cost_in_usd_ticks: 1520000,
    }),
  },
  deepseek: {
    base: 'https://api.deepseek.com/v1',
    model: 'deepseek-chat',
    reply: completion('1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a10', 'deepseek-chat', {
      prompt_tokens: 1000,
      completion_tokens: 50,
      total_tokens: 1050,
      prompt_tokens_details: { cached_tokens: 800 },
      prompt_cache_hit_tokens: 800,
      prompt_cache_miss_tokens: 200,
    }),
  },
  groq: {
    base: 'https://api.groq.com/openai/v1',
    model: 'llama-3.3-70b-versatile',
    reply: {
      ...completion('chatcmpl-0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5', 'llama-3.3-70b-versatile', {
        queue_time: 0.031,
        prompt_tokens: 100,
        prompt_time: 0.008,
        completion_tokens: 20,
        completion_time: 0.05,
        total_tokens: 120,
        total_time: 0.058,
      }),
      x_groq: { id: 'req_01jz0example' },
    },
  },
};

beforeAll(async () => {
  msw.use(
    http.get(`${ANTHROPIC}/models`, () =>
      HttpResponse.json({ data: [{ type: 'model', id: 'claude-sonnet-4-5-20250929', display_name: 'Claude Sonnet 4.5', created_at: '2025-09-29T00:00:00Z' }], has_more: false, first_id: 'claude-sonnet-4-5-20250929', last_id: 'claude-sonnet-4-5-20250929' }),
    ),
    http.get(`${GEMINI}/models`, () => HttpResponse.json(jsonFixture('gemini/models.json'))),
    http.post(`${ANTHROPIC}/messages`, async ({ request }) => {
      const body = (await request.json()) as Record<string, unknown>;
      seen.push({ url: request.url, headers: request.headers, body });
      return body.stream ? sseResponse(fixture('anthropic/stream-text.sse')) : HttpResponse.json(jsonFixture('anthropic/message.json'));
    }),
    http.post(/generativelanguage\.googleapis\.com\/v1beta\/models\/[^/]+:generateContent$/, async ({ request }) => {
      seen.push({ url: request.url, headers: request.headers, body: (await request.json()) as Record<string, unknown> });
      return HttpResponse.json(jsonFixture('gemini/generate-text.json'));
    }),
    http.post(/generativelanguage\.googleapis\.com\/v1beta\/models\/[^/]+:streamGenerateContent/, async ({ request }) => {
      seen.push({ url: request.url, headers: request.headers, body: (await request.json()) as Record<string, unknown> });
      return sseResponse(fixture('gemini/stream-text.sse').replace(/\r\n/g, '\n'));
    }),
    http.post(/generativelanguage\.googleapis\.com\/v1beta\/models\/[^/]+:batchEmbedContents$/, () => HttpResponse.json(jsonFixture('gemini/embed-batch.json'))),
  );
  for (const p of Object.values(openAiStyle)) {
    msw.use(
      http.get(`${p.base}/models`, () => HttpResponse.json({ object: 'list', data: [{ id: p.model, object: 'model', created: 1, owned_by: 'x' }] })),
      http.post(`${p.base}/chat/completions`, async ({ request }) => {
        seen.push({ url: request.url, headers: request.headers, body: (await request.json()) as Record<string, unknown> });
        return HttpResponse.json(p.reply);
      }),
    );
  }
  gw = await startTestGateway({
    ANTHROPIC_API_KEY: 'sk-ant-test',
    GEMINI_API_KEY: 'AIza-test-key',
    OPENROUTER_API_KEY: 'sk-or-test',
    XAI_API_KEY: 'xai-test',
    DEEPSEEK_API_KEY: 'sk-ds-test',
    GROQ_API_KEY: 'gsk-test',
  });
  sdk = new OpenAI({ apiKey: 'unused', baseURL: `${gw.url}/v1`, maxRetries: 0, fetch: realFetch });
});
afterAll(async () => {
  await gw.stop();
  msw.close();
});

async function row(requestId: string) {
  await gw.recorder.flush();
  const { data } = await admin.getUsageLog({ client: gw.client, query: { search: requestId } });
  expect(data?.total).toBe(1);
  return data!.entries![0]!;
}

describe('Anthropic, translated both ways', () => {
  it('sends a Messages request and returns an OpenAI completion with cache tokens, costed exactly', async () => {
    seen.length = 0;
    const reply = await sdk.chat.completions.create(
      { model: 'claude-sonnet-4-5-20250929', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Capital of France?' }] },
      { headers: { 'X-Request-ID': 'anthropic-1' } },
    );
    expect(reply.choices[0]?.message.content).toBe('The capital of France is Paris.');
    expect(reply.usage).toMatchObject({ prompt_tokens: 1745, completion_tokens: 11, prompt_tokens_details: { cached_tokens: 1536 } });
    expect(seen[0]!.headers.get('x-api-key')).toBe('sk-ant-test');
    expect(seen[0]!.headers.get('anthropic-version')).toBe('2023-06-01');
    expect(seen[0]!.body).toMatchObject({ model: 'claude-sonnet-4-5-20250929', max_tokens: 4096, system: [{ type: 'text', text: 'Be brief.' }] });
    // $3 input, $0.30 cache read, $3.75 cache write, $15 output per million tokens:
    // input 21×3 + 1536×0.30 + 188×3.75 = 1228.8 µ$; output 11×15 = 165 µ$
    expect(await row('anthropic-1')).toMatchObject({
      model: 'claude-sonnet-4-5-20250929', provider: 'anthropic', provider_id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
      input_tokens: 1745, uncached_input_tokens: 21, cached_input_tokens: 1536, cache_write_input_tokens: 188, output_tokens: 11, total_tokens: 1756,
      input_cost: 0.0012288, output_cost: 0.000165, total_cost: 0.0013938, cost_source: 'model_pricing',
      raw_data: { cache_read_input_tokens: 1536, cache_creation_input_tokens: 188 },
    });
  });

  it('streams Anthropic events as OpenAI chunks and records the streamed usage', async () => {
    const stream = await sdk.chat.completions.create(
      { model: 'anthropic/claude-sonnet-4-5-20250929', messages: [{ role: 'user', content: 'Hi' }], stream: true },
      { headers: { 'X-Request-ID': 'anthropic-stream-1' } },
    );
    let text = '';
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(finish).toBe('stop');
    expect(usage).toMatchObject({ prompt_tokens: 1525, completion_tokens: 19 });
    // input 25×3 + 1200×0.30 + 300×3.75 = 1560 µ$; output 19×15 = 285 µ$
    expect(await row('anthropic-stream-1')).toMatchObject({ input_tokens: 1525, cached_input_tokens: 1200, cache_write_input_tokens: 300, output_tokens: 19, input_cost: 0.00156, output_cost: 0.000285, total_cost: 0.001845 });
  });
});

describe('Gemini, over its native API', () => {
  it('translates generateContent and counts thought tokens as output', async () => {
    seen.length = 0;
    const reply = await sdk.chat.completions.create({ model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'When does it renew?' }] }, { headers: { 'X-Request-ID': 'gemini-1' } });
    expect(reply.choices[0]?.message.content).toMatch(/^The agreement renews/);
    expect(reply.usage).toMatchObject({ prompt_tokens: 12114, completion_tokens: 759, completion_tokens_details: { reasoning_tokens: 611 } });
    expect(seen[0]!.headers.get('x-goog-api-key')).toBe('AIza-test-key');
    expect(seen[0]!.url).not.toContain('key=');
    // $0.30 input, $0.03 cached, $2.50 output per million: input 3922×0.30 + 8192×0.03 = 1422.36 µ$; output (148+611)×2.50 = 1897.5 µ$
    expect(await row('gemini-1')).toMatchObject({
      provider: 'gemini', model: 'gemini-2.5-flash', input_tokens: 12114, cached_input_tokens: 8192, uncached_input_tokens: 3922, output_tokens: 759,
      input_cost: 0.00142236, output_cost: 0.0018975, total_cost: 0.00331986,
      raw_data: { cached_content_token_count: 8192, thoughts_token_count: 611 },
    });
  });

  it('streams Gemini chunks and records the last usage they carried', async () => {
    const stream = await sdk.chat.completions.create({ model: 'gemini/gemini-2.5-flash', messages: [{ role: 'user', content: 'A story' }], stream: true }, { headers: { 'X-Request-ID': 'gemini-stream-1' } });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text).toContain('fell asleep in the fruit bowl.');
    // input 9×0.30 = 2.7 µ$; output (47+517)×2.50 = 1410 µ$
    expect(await row('gemini-stream-1')).toMatchObject({ input_tokens: 9, output_tokens: 564, input_cost: 0.0000027, output_cost: 0.00141, total_cost: 0.0014127 });
  });

  it('returns Gemini embeddings in the encoding the SDK asks for', async () => {
    const result = await sdk.embeddings.create({ model: 'gemini/gemini-embedding-001', input: ['first', 'second'] });
    const expected = (jsonFixture('gemini/embed-batch.json') as { embeddings: { values: number[] }[] }).embeddings;
    expect(result.data).toHaveLength(expected.length);
    expect(result.data[0]!.embedding[0]).toBeCloseTo(expected[0]!.values[0]!, 6);
  });
});

describe('OpenAI-compatible providers and their cost sources', () => {
  it('takes OpenRouter’s reported charge, split when the parts add up', async () => {
    await sdk.chat.completions.create({ model: 'openrouter/anthropic/claude-sonnet-4.5', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'X-Request-ID': 'openrouter-1' } });
    expect(await row('openrouter-1')).toMatchObject({ provider: 'openrouter', cost_source: 'openrouter_credits', input_cost: 0.000582, output_cost: 0.00003, total_cost: 0.000612 });
  });

  it('takes xAI’s cost in ticks and counts its reasoning tokens as output', async () => {
    await sdk.chat.completions.create({ model: 'grok-4', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'X-Request-ID': 'xai-1' } });
    const entry = await row('xai-1');
    // 1 520 000 ticks × 1e-10 USD
    expect(entry).toMatchObject({ provider: 'xai', cost_source: 'xai_cost_in_usd_ticks', total_cost: 0.000152, input_tokens: 32, cached_input_tokens: 6, output_tokens: 103, total_tokens: 135 });
    expect(entry).not.toHaveProperty('input_cost');
  });

  it('reads DeepSeek’s cache hits', async () => {
    await sdk.chat.completions.create({ model: 'deepseek-chat', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'X-Request-ID': 'deepseek-1' } });
    const entry = await row('deepseek-1');
    expect(entry).toMatchObject({ cached_input_tokens: 800, uncached_input_tokens: 200, cost_source: 'model_pricing', raw_data: { prompt_cache_hit_tokens: 800, prompt_cache_miss_tokens: 200 } });
    expect(entry.total_cost).toBeGreaterThan(0);
  });

  it('prices Groq from the model price', async () => {
    await sdk.chat.completions.create({ model: 'llama-3.3-70b-versatile', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'X-Request-ID': 'groq-1' } });
    // $0.59 input, $0.79 output per million: 100×0.59 + 20×0.79 = 74.8 µ$
    expect(await row('groq-1')).toMatchObject({ provider: 'groq', input_cost: 0.000059, output_cost: 0.0000158, total_cost: 0.0000748, costs_calculation_caveat: '' });
  });

  it('answers every /v1 response with its X-Request-ID: passed-through and translated replies, streams, errors', async () => {
    const post = (body: unknown, id: string) =>
      realFetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Request-ID': id }, body: JSON.stringify(body) });
    const messages = [{ role: 'user', content: 'Hi' }];
    const cases = [
      [await post({ model: 'deepseek/deepseek-chat', messages }, 'rid-passthrough'), 'rid-passthrough', 200],
      [await post({ model: 'anthropic/claude-sonnet-4-5-20250929', messages }, 'rid-translated'), 'rid-translated', 200],
      [await post({ model: 'anthropic/claude-sonnet-4-5-20250929', messages, stream: true }, 'rid-stream'), 'rid-stream', 200],
      [await post({ model: 'deepseek/deepseek-chat', messages: [] }, 'rid-invalid'), 'rid-invalid', 400],
      [await post({ model: 'no-such-model', messages }, 'rid-unknown'), 'rid-unknown', 404],
    ] as const;
    for (const [res, id, status] of cases) {
      expect([res.status, res.headers.get('x-request-id')]).toEqual([status, id]);
      await res.text();
    }
    const models = await realFetch(`${gw.url}/v1/models`, { headers: { 'X-Request-ID': 'rid-models' } });
    expect(models.headers.get('x-request-id')).toBe('rid-models');
  });

  it('lists the models of every provider', async () => {
    const ids = (await sdk.models.list()).data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(['anthropic/claude-sonnet-4-5-20250929', 'gemini/gemini-2.5-flash', 'openrouter/anthropic/claude-sonnet-4.5', 'xai/grok-4', 'deepseek/deepseek-chat', 'groq/llama-3.3-70b-versatile']));
  });
});
