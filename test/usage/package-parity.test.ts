import { calcPrice, extractUsage, findProvider } from '@pydantic/genai-prices';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultBaseUrls } from '../../src/config.ts';
import type { ProviderType } from '../../src/providers/types.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { fixture, http, HttpResponse, mockProviders, realFetch, sseResponse } from '../support/providers.ts';

// Every usage shape in test/fixtures goes through the gateway (real HTTP in, the provider mocked at
// the network edge, the row read back from PostgreSQL), and the row's exact cost is compared with
// what @pydantic/genai-prices computes for the same reply with its own extractor and calcPrice.

/** One recorded reply: the provider it comes from, and the package's extractor for its shape. */
interface Shape {
  type: ProviderType;
  fixture: string;
  /** The package's `api_flavor` for this shape. */
  flavor: string;
}

const shapes: Shape[] = [
  { type: 'openai', fixture: 'openai/chat.json', flavor: 'chat' },
  { type: 'openai', fixture: 'openai/stream.sse', flavor: 'chat' },
  { type: 'openai', fixture: 'openai/chat-audio.json', flavor: 'chat' },
  { type: 'openai', fixture: 'openai/chat-reasoning.json', flavor: 'chat' },
  { type: 'anthropic', fixture: 'anthropic/message.json', flavor: 'default' },
  { type: 'anthropic', fixture: 'anthropic/tool-use.json', flavor: 'default' },
  { type: 'anthropic', fixture: 'anthropic/message-cache-1h.json', flavor: 'default' },
  { type: 'anthropic', fixture: 'anthropic/message-web-search.json', flavor: 'default' },
  { type: 'anthropic', fixture: 'anthropic/stream-text.sse', flavor: 'default' },
  { type: 'anthropic', fixture: 'anthropic/stream-tool-use.sse', flavor: 'default' },
  { type: 'anthropic', fixture: 'anthropic/stream-web-search.sse', flavor: 'default' },
  { type: 'gemini', fixture: 'gemini/generate-text.json', flavor: 'default' },
  { type: 'gemini', fixture: 'gemini/generate-function-call.json', flavor: 'default' },
  { type: 'gemini', fixture: 'gemini/generate-audio.json', flavor: 'default' },
  { type: 'gemini', fixture: 'gemini/generate-image.json', flavor: 'default' },
  { type: 'gemini', fixture: 'gemini/stream-text.sse', flavor: 'default' },
  { type: 'gemini', fixture: 'gemini/stream-function-call.sse', flavor: 'default' },
  { type: 'groq', fixture: 'groq/chat.json', flavor: 'default' },
  { type: 'deepseek', fixture: 'deepseek/chat.json', flavor: 'chat' },
  { type: 'fireworks', fixture: 'fireworks/chat.json', flavor: 'chat' },
  { type: 'zai', fixture: 'zai/chat.json', flavor: 'chat' },
  { type: 'minimax', fixture: 'minimax/chat.json', flavor: 'chat' },
  { type: 'xai', fixture: 'xai/chat.json', flavor: 'chat' },
];

/** Replies that carry the provider's own charge, which the row takes as it is. */
const reportedCosts = [
  { type: 'xai', fixture: 'xai/chat-cost.json', source: 'xai_cost_in_usd_ticks', total: '0.00199575' },
  { type: 'openrouter', fixture: 'openrouter/chat.json', source: 'openrouter_credits', total: '0.0013674' },
] as const;

type Json = Record<string, any>;

const events = (text: string): Json[] =>
  text
    .split(/\r?\n/)
    .filter((line) => line.startsWith('data: ') && line !== 'data: [DONE]')
    .map((line) => JSON.parse(line.slice('data: '.length)) as Json);

/**
 * The reply as the package's extractor reads it: the JSON body, or for a stream the event holding
 * the final usage. Anthropic streams report usage in message_start and update it in message_delta
 * (whose counts are cumulative), so the two are merged field by field, as the Messages API defines.
 */
function finalReply(shape: Shape): { reply: Json; model: string } {
  const text = fixture(shape.fixture);
  if (!shape.fixture.endsWith('.sse')) {
    const reply = JSON.parse(text) as Json;
    return { reply, model: reply.model ?? reply.modelVersion };
  }
  const all = events(text);
  if (shape.type === 'anthropic') {
    const message = all.find((e) => e.type === 'message_start')!.message;
    const usage = { ...message.usage };
    for (const e of all) if (e.type === 'message_delta') Object.assign(usage, e.usage);
    return { reply: { usage }, model: message.model };
  }
  const last = all.filter((e) => e.usage || e.usageMetadata).at(-1)!;
  return { reply: last, model: last.model ?? last.modelVersion };
}

/** The package's names for the providers these shapes come from. */
const packageProviderIds: Partial<Record<ProviderType, string>> = {
  openai: 'openai',
  anthropic: 'anthropic',
  gemini: 'google',
  groq: 'groq',
  deepseek: 'deepseek',
  fireworks: 'fireworks',
  zai: 'zai',
  minimax: 'minimax',
  xai: 'x-ai',
};
const packageProviderId = (type: ProviderType) => packageProviderIds[type]!;

/** The package's total and input price for a reply, in USD as floats. */
function packagePrice(shape: Shape, at: Date) {
  const { reply, model } = finalReply(shape);
  const providerId = packageProviderId(shape.type);
  const { usage } = extractUsage(findProvider({ providerId })!, reply, shape.flavor);
  const price = calcPrice(usage, model, { providerId, timestamp: at });
  expect(price, `the package prices ${providerId}/${model}`).not.toBeNull();
  return { total: price!.total_price, input: price!.input_price, usage };
}

/**
 * The package sums floats, so its figure carries rounding error of about 1e-16 relative per
 * operation; ours is exact. Agreement to 1e-9 relative is agreement up to that rounding, while a
 * rate left out moves the total by far more (a fifth of it in the case that prompted this test).
 */
function expectClose(ours: string, theirs: number, what: string) {
  const difference = Math.abs(Number(ours) - theirs);
  expect(difference, `${what}: ours ${ours}, the package's ${theirs}`).toBeLessThanOrEqual(1e-9 * Math.max(Math.abs(theirs), 1e-12));
}

const GEMINI = /generativelanguage\.googleapis\.com\/v1beta\/models\/[^/]+:(generateContent|streamGenerateContent)/;
const chatUrl = (type: ProviderType) =>
  type === 'anthropic' ? `${defaultBaseUrls.anthropic}/messages` : type === 'gemini' ? GEMINI : `${defaultBaseUrls[type]}/chat/completions`;
const types = [...new Set<ProviderType>([...shapes.map((s) => s.type), ...reportedCosts.map((r) => r.type)])];

const msw = mockProviders();
let gw: TestGateway;
let sdk: OpenAI;
let requests = 0;

beforeAll(async () => {
  for (const type of types) {
    if (type !== 'gemini') msw.use(http.get(`${defaultBaseUrls[type]}/models`, () => HttpResponse.json({ object: 'list', data: [] })));
  }
  msw.use(http.get(`${defaultBaseUrls.gemini}/models`, () => HttpResponse.json({ models: [] })));
  gw = await startTestGateway(Object.fromEntries(types.map((t) => [`${t.toUpperCase()}_API_KEY`, `key-${t}`])));
  sdk = new OpenAI({ apiKey: 'unused', baseURL: `${gw.url}/v1`, maxRetries: 0, fetch: realFetch });
});
afterAll(async () => {
  await gw.stop();
  msw.close();
});

/** Sends a request that the provider answers with the fixture; returns the usage row written for it. */
async function rowFor(type: ProviderType, path: string) {
  const text = fixture(path);
  const stream = path.endsWith('.sse');
  msw.use(http.post(chatUrl(type), () => (stream ? sseResponse(text.replace(/\r\n/g, '\n')) : HttpResponse.text(text, { headers: { 'content-type': 'application/json' } }))));
  const requestId = `parity-${++requests}-${path}`;
  const body = { model: `${type}/model-of-the-fixture`, messages: [{ role: 'user' as const, content: 'hi' }] };
  const options = { headers: { 'X-Request-ID': requestId } };
  if (stream) for await (const _ of await sdk.chat.completions.create({ ...body, stream: true }, options));
  else await sdk.chat.completions.create(body, options);
  await gw.recorder.flush();
  const rows = await gw.sql<{ total: string; input: string; source: string; caveat: string; raw: Json | null; at: Date }[]>`
    select total_cost::text as total, input_cost::text as input, cost_source as source,
           costs_calculation_caveat as caveat, raw_data as raw, "timestamp" as at
    from usage where request_id = ${requestId}`;
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

describe('every usage shape costs what @pydantic/genai-prices computes for it', () => {
  it.each(shapes)('$type $fixture', async (shape) => {
    const row = await rowFor(shape.type, shape.fixture);
    const expected = packagePrice(shape, row.at);
    expect(row.source).toBe('model_pricing');
    // Every rate the package has for these shapes is applied, so no caveat is owed.
    expect(row.caveat).toBe('');
    expectClose(row.total, expected.total, 'total');
    expectClose(row.input, expected.input, 'input');
  });

  it.each(reportedCosts)('$type $fixture is costed at the charge the provider reported', async ({ type, fixture: path, source, total }) => {
    const row = await rowFor(type, path);
    expect(row).toMatchObject({ source, total, caveat: '' });
  });

  it('keeps the counts behind each special rate in raw_data', async () => {
    const raw = (path: string, type: ProviderType) => rowFor(type, path).then((r) => r.raw);
    expect(await raw('anthropic/message-web-search.json', 'anthropic')).toMatchObject({ server_tool_use_web_search_requests: 2 });
    expect(await raw('anthropic/message-cache-1h.json', 'anthropic')).toMatchObject({ cache_creation_ephemeral_1h_input_tokens: 10240 });
    expect(await raw('openai/chat-audio.json', 'openai')).toMatchObject({ prompt_audio_tokens: 480, completion_audio_tokens: 1052 });
    expect(await raw('gemini/generate-audio.json', 'gemini')).toMatchObject({ prompt_audio_token_count: 9600, cache_audio_token_count: 8448 });
    expect(await raw('gemini/generate-image.json', 'gemini')).toMatchObject({ candidates_image_token_count: 1290 });
  });
});
