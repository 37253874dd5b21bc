import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.ts';
import { createAnthropicAdapter } from '../../src/providers/anthropic.ts';
import { SseSplitter } from '../../src/providers/sse.ts';
import type { ChatContext, StreamStep } from '../../src/providers/types.ts';

const apiKey = 'sk-ant-api03-secretsecretsecret';
const adapter = createAnthropicAdapter({
  name: 'claude',
  type: 'anthropic',
  baseUrl: 'https://api.anthropic.com/v1',
  apiKey,
  models: [],
});
const ctx: ChatContext = { model: 'claude-sonnet-4-5', stream: false, includeUsage: false, defaultMaxTokens: 4096 };
const streamCtx: ChatContext = { ...ctx, stream: true, includeUsage: true };

const fixture = (name: string) => readFileSync(new URL(`../fixtures/anthropic/${name}`, import.meta.url));
const json = (name: string): Record<string, unknown> => JSON.parse(fixture(name).toString('utf8'));

type AnyRecord = Record<string, any>;

/** The Anthropic request body for an OpenAI body. */
function translate(body: AnyRecord, c: ChatContext = ctx): AnyRecord {
  const req = adapter.chatRequest(body, c);
  return JSON.parse(String(req.body ?? 'null'));
}

function thrown(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    return e as GatewayError;
  }
  throw new Error('expected a GatewayError');
}

interface ChunkChoice {
  index: number;
  delta: AnyRecord;
  finish_reason: string | null;
}
interface Chunk {
  id: string;
  object: string;
  model: string;
  created: number;
  choices: ChunkChoice[];
  usage?: AnyRecord;
}

/** Feeds an SSE fixture to a fresh translator in small, uneven byte slices, as a network would. */
function stream(name: string, c: ChatContext = streamCtx, sizes = [1, 3, 7, 2, 13, 5, 31]) {
  const bytes = fixture(name);
  const translator = adapter.chatStream(c);
  const splitter = new SseSplitter(1 << 20);
  const steps: StreamStep[] = [];
  for (let i = 0, n = 0; i < bytes.length; n++) {
    const size = sizes[n % sizes.length] ?? 1;
    for (const ev of splitter.push(bytes.subarray(i, i + size))!.events) steps.push(translator.event(ev));
    i += size;
  }
  expect(splitter.rest()).toBe('');
  const chunks = steps.flatMap((s) => (s.chunks === 'passthrough' ? [] : s.chunks)) as unknown as Chunk[];
  const choices = chunks.flatMap((ch) => ch.choices);
  const text = choices.map((ch) => ch.delta.content ?? '').join('');
  const usage = steps.filter((s) => s.usage).at(-1)?.usage;
  return { translator, steps, chunks, choices, text, usage };
}

describe('chatRequest', () => {
  it('posts to /messages with Anthropic headers, the context model and stream flag', () => {
    const req = adapter.chatRequest({ model: 'anthropic/claude-sonnet-4-5', messages: [{ role: 'user', content: 'Hi' }] }, streamCtx);
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/messages');
    expect(req.headers).toEqual({ 'x-api-key': apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' });
    const body = JSON.parse(String(req.body ?? ''));
    expect(body).toMatchObject({ model: 'claude-sonnet-4-5', stream: true, messages: [{ role: 'user' }] });
    expect(translate({ messages: [{ role: 'user', content: 'Hi' }] }).stream).toBe(false);
  });

  it('sends no x-api-key when the provider has no key', () => {
    const keyless = createAnthropicAdapter({ ...adapter.config, apiKey: '' });
    const req = keyless.chatRequest({ messages: [{ role: 'user', content: 'Hi' }] }, ctx);
    expect(req.headers).not.toHaveProperty('x-api-key');
    expect(keyless.modelsRequest().headers).not.toHaveProperty('x-api-key');
  });

  it('moves system and developer messages to the top-level system, in order', () => {
    const body = translate({
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        { role: 'user', content: 'Hello' },
      ],
    });
    const system = body.system as AnyRecord[];
    expect(system.map((b) => b.text)).toEqual(['You are terse.', 'Answer in French.']);
    expect(body.messages).toHaveLength(1);
    expect(body.messages[0].role).toBe('user');
  });

  it('sends no system when there is none', () => {
    expect(translate({ messages: [{ role: 'user', content: 'Hi' }] })).not.toHaveProperty('system');
  });

  it('translates text and image parts; data URLs become base64 sources, http(s) URLs url sources', () => {
    const body = translate({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'high' } },
          ],
        },
      ],
    });
    expect(body.messages[0].content).toEqual([
      { type: 'text', text: 'What is in these?' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
    ]);
  });

  it('keeps cache_control marks on content parts', () => {
    const body = translate({
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'Long manual…', cache_control: { type: 'ephemeral' } }] },
        { role: 'user', content: 'Q' },
      ],
    });
    expect(body.system[0]).toEqual({ type: 'text', text: 'Long manual…', cache_control: { type: 'ephemeral' } });
  });

  it('rejects images it cannot express and content parts Anthropic lacks', () => {
    const badUrl = thrown(() =>
      translate({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }] }] }),
    );
    expect(badUrl.status).toBe(400);
    expect(badUrl.param).toBe('messages[0].content[0]');
    const audio = thrown(() =>
      translate({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: '', format: 'wav' } }] }] }),
    );
    expect(audio.type).toBe('invalid_request_error');
  });

  it('translates tools and each tool_choice', () => {
    const tools = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Current weather',
          parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
        },
      },
      { type: 'function', function: { name: 'now' } },
    ];
    const messages = [{ role: 'user', content: 'Weather?' }];
    const body = translate({ messages, tools });
    expect(body.tools).toEqual([
      {
        name: 'get_weather',
        description: 'Current weather',
        input_schema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
      },
      { name: 'now', input_schema: { type: 'object', properties: {} } },
    ]);
    expect(body).not.toHaveProperty('tool_choice');
    expect(translate({ messages, tools, tool_choice: 'auto' }).tool_choice).toEqual({ type: 'auto' });
    expect(translate({ messages, tools, tool_choice: 'required' }).tool_choice).toEqual({ type: 'any' });
    expect(translate({ messages, tools, tool_choice: 'none' }).tool_choice).toEqual({ type: 'none' });
    expect(translate({ messages, tools, tool_choice: { type: 'function', function: { name: 'now' } } }).tool_choice).toEqual({
      type: 'tool',
      name: 'now',
    });
  });

  it('turns parallel_tool_calls=false into disable_parallel_tool_use', () => {
    const base = { messages: [{ role: 'user', content: 'Weather?' }], tools: [{ type: 'function', function: { name: 'w' } }] };
    expect(translate({ ...base, parallel_tool_calls: false }).tool_choice).toEqual({ type: 'auto', disable_parallel_tool_use: true });
    expect(translate({ ...base, parallel_tool_calls: false, tool_choice: 'required' }).tool_choice).toEqual({
      type: 'any',
      disable_parallel_tool_use: true,
    });
    expect(translate({ ...base, parallel_tool_calls: true })).not.toHaveProperty('tool_choice');
  });

  it('sends no tool_choice without tools', () => {
    const body = translate({ messages: [{ role: 'user', content: 'Hi' }], tool_choice: 'auto', parallel_tool_calls: false });
    expect(body).not.toHaveProperty('tools');
    expect(body).not.toHaveProperty('tool_choice');
  });

  it('turns assistant tool calls into tool_use and tool messages into one user turn of tool_results', () => {
    const body = translate({
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: 'Checking both.',
          tool_calls: [
            { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } },
            { id: 'toolu_2', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Rome"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '18°C' },
        { role: 'tool', tool_call_id: 'toolu_2', content: [{ type: 'text', text: '24°C' }] },
        { role: 'user', content: 'Which is warmer?' },
      ],
    });
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Rome?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking both.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { location: 'Paris' } },
          { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: { location: 'Rome' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '18°C' },
          { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: '24°C' }] },
          { type: 'text', text: 'Which is warmer?' },
        ],
      },
    ]);
  });

  it('accepts empty tool-call arguments and null assistant content', () => {
    const body = translate({
      messages: [
        { role: 'user', content: 'Time?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'now', arguments: '' } }] },
        { role: 'tool', tool_call_id: 't', content: '12:00' },
      ],
    });
    expect(body.messages[1].content).toEqual([{ type: 'tool_use', id: 't', name: 'now', input: {} }]);
  });

  it('rejects tool-call arguments that are not a JSON object', () => {
    const err = thrown(() =>
      translate({
        messages: [
          { role: 'user', content: 'x' },
          { role: 'assistant', tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{"a":' } }] },
        ],
      }),
    );
    expect(err.status).toBe(400);
    expect(err.param).toBe('messages[1].tool_calls[0].function.arguments');
  });

  it('merges consecutive messages of one role so turns alternate', () => {
    const body = translate({
      messages: [
        { role: 'user', content: 'One.' },
        { role: 'user', content: 'Two.' },
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Three.' },
        { role: 'assistant', content: 'A' },
        { role: 'assistant', content: 'B' },
      ],
    });
    expect(body.messages.map((m: AnyRecord) => m.role)).toEqual(['user', 'assistant']);
    expect(body.messages[0].content.map((b: AnyRecord) => b.text)).toEqual(['One.', 'Two.', 'Three.']);
    expect(body.messages[1].content.map((b: AnyRecord) => b.text)).toEqual(['A', 'B']);
  });

  it('rejects roles Anthropic has no equivalent for', () => {
    const err = thrown(() => translate({ messages: [{ role: 'function', name: 'f', content: 'x' }] }));
    expect(err.status).toBe(400);
    expect(err.param).toBe('messages[0].role');
  });

  it('always sends max_tokens: the client value, else max_completion_tokens, else the default', () => {
    const messages = [{ role: 'user', content: 'Hi' }];
    expect(translate({ messages }).max_tokens).toBe(4096);
    expect(translate({ messages }, { ...ctx, defaultMaxTokens: 1000 }).max_tokens).toBe(1000);
    expect(translate({ messages, max_tokens: 50 }).max_tokens).toBe(50);
    expect(translate({ messages, max_completion_tokens: 70 }).max_tokens).toBe(70);
    expect(translate({ messages, max_tokens: 50, max_completion_tokens: 70 }).max_tokens).toBe(50);
    expect(translate({ messages, max_tokens: null, max_completion_tokens: 70 }).max_tokens).toBe(70);
  });

  it('passes sampling parameters, stop sequences and the user id', () => {
    const messages = [{ role: 'user', content: 'Hi' }];
    const body = translate({ messages, temperature: 0.2, top_p: 0.9, top_k: 40, stop: ['END', '###'], user: 'user-42' });
    expect(body).toMatchObject({ temperature: 0.2, top_p: 0.9, top_k: 40, stop_sequences: ['END', '###'], metadata: { user_id: 'user-42' } });
    expect(translate({ messages, stop: 'END' }).stop_sequences).toEqual(['END']);
    expect(translate({ messages, stop: null })).not.toHaveProperty('stop_sequences');
  });

  it('drops OpenAI parameters Anthropic does not have', () => {
    const body = translate({
      messages: [{ role: 'user', content: 'Hi' }],
      n: 1,
      logit_bias: { '50256': -100 },
      presence_penalty: 0.5,
      frequency_penalty: 0.5,
      logprobs: true,
      top_logprobs: 2,
      response_format: { type: 'json_object' },
      seed: 7,
      stream_options: { include_usage: true },
      store: false,
    });
    expect(Object.keys(body).sort()).toEqual(['max_tokens', 'messages', 'model', 'stream']);
  });
});

describe('chatResponse', () => {
  it('translates a text message and normalises usage so input counts cache reads and writes', () => {
    const result = adapter.chatResponse(json('message.json'), ctx);
    expect(result.id).toBe('msg_01XFDUDYJgAACzvnptvVoYEL');
    expect(result.model).toBe('claude-sonnet-4-5-20250929');
    expect(result.usage).toEqual({
      inputTokens: 21 + 188 + 1536,
      cachedInputTokens: 1536,
      cacheWriteInputTokens: 188,
      outputTokens: 11,
      reasoningTokens: 0,
      totalTokens: 21 + 188 + 1536 + 11,
      raw: { cache_read_input_tokens: 1536, cache_creation_input_tokens: 188, cache_creation_ephemeral_5m_input_tokens: 188 },
    });
    const response = result.response as AnyRecord;
    expect(response).toMatchObject({
      id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
      object: 'chat.completion',
      model: 'claude-sonnet-4-5-20250929',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'The capital of France is Paris.' },
          finish_reason: 'stop',
          logprobs: null,
        },
      ],
      usage: { prompt_tokens: 1745, completion_tokens: 11, total_tokens: 1756, prompt_tokens_details: { cached_tokens: 1536 } },
    });
    expect(response.choices[0].message).not.toHaveProperty('tool_calls');
    expect(Math.abs(response.created - Date.now() / 1000)).toBeLessThan(5);
  });

  it('translates tool use to tool_calls with null content', () => {
    const result = adapter.chatResponse(json('tool-use.json'), ctx);
    const choice = (result.response as AnyRecord).choices[0];
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    expect(choice.message.tool_calls).toHaveLength(1);
    const call = choice.message.tool_calls[0];
    expect(call).toMatchObject({ id: 'toolu_01A09q90qw90lq917835lq9', type: 'function', function: { name: 'get_weather' } });
    expect(JSON.parse(call.function.arguments)).toEqual({ location: 'San Francisco, CA', unit: 'celsius' });
    expect(result.usage).toMatchObject({ inputTokens: 472, outputTokens: 57, totalTokens: 529, cachedInputTokens: 0 });
    expect(result.usage?.raw).toEqual({ cache_read_input_tokens: 0, cache_creation_input_tokens: 0 });
  });

  it('keeps text alongside tool calls and surfaces thinking as reasoning_content', () => {
    const message = {
      ...json('tool-use.json'),
      content: [
        { type: 'thinking', thinking: 'The user wants weather.', signature: 'EqQBCgIYAhIM' },
        { type: 'text', text: 'Let me look.' },
        ...(json('tool-use.json').content as unknown[]),
      ],
    };
    const msg = (adapter.chatResponse(message, ctx).response as AnyRecord).choices[0].message;
    expect(msg.content).toBe('Let me look.');
    expect(msg.reasoning_content).toBe('The user wants weather.');
    expect(msg.tool_calls).toHaveLength(1);
  });

  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['max_tokens', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
  ])('maps stop_reason %s to finish_reason %s', (stopReason, finishReason) => {
    const result = adapter.chatResponse({ ...json('message.json'), stop_reason: stopReason }, ctx);
    expect((result.response as AnyRecord).choices[0].finish_reason).toBe(finishReason);
  });

  it('reads one-hour cache writes, web searches and thinking tokens, keeping each count in raw', () => {
    expect(adapter.chatResponse(json('message-cache-1h.json'), ctx).usage).toEqual({
      inputTokens: 36 + 12288,
      cachedInputTokens: 0,
      cacheWriteInputTokens: 12288,
      outputTokens: 27,
      reasoningTokens: 0,
      totalTokens: 36 + 12288 + 27,
      detail: { cacheWrite1hInputTokens: 10240 },
      raw: {
        cache_read_input_tokens: 0,
        cache_creation_input_tokens: 12288,
        cache_creation_ephemeral_5m_input_tokens: 2048,
        cache_creation_ephemeral_1h_input_tokens: 10240,
      },
    });
    const searched = adapter.chatResponse(json('message-web-search.json'), ctx);
    expect(searched.usage).toMatchObject({ inputTokens: 18420, outputTokens: 512, detail: { webSearches: 2 } });
    expect(searched.usage?.raw).toEqual({ cache_read_input_tokens: 0, cache_creation_input_tokens: 0, server_tool_use_web_search_requests: 2 });
    // Server-tool blocks are the provider's own business; the client sees the answer.
    expect((searched.response as AnyRecord).choices[0].message.content).toBe(
      "I'll look up the current figures.The deposit facility rate stands at 2.00%, unchanged at the latest meeting.",
    );
    const thinking = adapter.chatResponse({ ...json('message.json'), usage: { input_tokens: 5, output_tokens: 300, output_tokens_details: { thinking_tokens: 240 } } }, ctx);
    expect(thinking.usage).toMatchObject({ outputTokens: 300, reasoningTokens: 240, raw: { output_tokens_details_thinking_tokens: 240 } });
  });

  it('leaves raw usage empty when Anthropic sent no cache fields', () => {
    const result = adapter.chatResponse({ ...json('message.json'), usage: { input_tokens: 5, output_tokens: 3 } }, ctx);
    expect(result.usage).toMatchObject({ inputTokens: 5, cachedInputTokens: 0, cacheWriteInputTokens: 0, totalTokens: 8, raw: {} });
  });

  it.each([
    ['an error object', json('error-529.json')],
    ['an array', []],
    ['null', null],
    ['a message without content', { type: 'message', id: 'msg_1' }],
  ])('rejects %s as unusable', (_, body) => {
    const err = thrown(() => adapter.chatResponse(body, ctx));
    expect(err).toMatchObject({ type: 'provider_error', status: 502, code: 'bad_upstream_response', provider: 'claude' });
  });
});

describe('chatStream', () => {
  it('translates a text stream, reassembling text and combining start and delta usage', () => {
    const { translator, chunks, choices, text, usage, steps } = stream('stream-text.sse');
    expect(translator.id).toBe('msg_01HCDu5LRGeP2o7s2xGmxyx8');
    expect(translator.model).toBe('claude-sonnet-4-5-20250929');
    expect(steps.every((s) => !s.error)).toBe(true);
    expect(choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    expect(text).toBe('Hello! Zażółć gęślą jaźń — how can I help you today? 👋');
    for (const ch of chunks) {
      expect(ch).toMatchObject({ id: translator.id, object: 'chat.completion.chunk', model: translator.model });
    }
    expect(choices.filter((ch) => ch.finish_reason !== null).map((ch) => ch.finish_reason)).toEqual(['stop']);
    expect(choices.at(-1)).toMatchObject({ delta: {}, finish_reason: 'stop' });

    expect(usage).toEqual({
      inputTokens: 25 + 300 + 1200,
      cachedInputTokens: 1200,
      cacheWriteInputTokens: 300,
      outputTokens: 19,
      reasoningTokens: 0,
      totalTokens: 1525 + 19,
      raw: { cache_read_input_tokens: 1200, cache_creation_input_tokens: 300, cache_creation_ephemeral_5m_input_tokens: 300 },
    });
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toEqual({ prompt_tokens: 1525, completion_tokens: 19, total_tokens: 1544, prompt_tokens_details: { cached_tokens: 1200 } });
  });

  it('keeps the one-hour cache writes of message_start when message_delta brings the final counts and web searches', () => {
    const { text, usage } = stream('stream-web-search.sse');
    expect(text).toBe('Tomorrow in Lisbon: sunny, highs around 24°C.');
    expect(usage).toEqual({
      inputTokens: 10682 + 4096,
      cachedInputTokens: 0,
      cacheWriteInputTokens: 4096,
      outputTokens: 389,
      reasoningTokens: 0,
      totalTokens: 10682 + 4096 + 389,
      detail: { cacheWrite1hInputTokens: 4096, webSearches: 1 },
      raw: {
        cache_read_input_tokens: 0,
        cache_creation_input_tokens: 4096,
        cache_creation_ephemeral_1h_input_tokens: 4096,
        server_tool_use_web_search_requests: 1,
      },
    });
  });

  it('gives the same chunks whatever the network slicing', () => {
    const strip = (chunks: Chunk[]) => chunks.map(({ created: _, ...rest }) => rest);
    const reference = strip(stream('stream-tool-use.sse', streamCtx, [1 << 20]).chunks);
    expect(strip(stream('stream-tool-use.sse', streamCtx, [1]).chunks)).toEqual(reference);
    expect(strip(stream('stream-tool-use.sse', streamCtx, [64, 3]).chunks)).toEqual(reference);
  });

  it('sends no usage chunk unless asked, but still reports usage', () => {
    const { chunks, usage } = stream('stream-text.sse', { ...streamCtx, includeUsage: false });
    expect(chunks.every((ch) => ch.choices.length === 1)).toBe(true);
    expect(chunks.some((ch) => 'usage' in ch)).toBe(false);
    expect(usage).toMatchObject({ inputTokens: 1525, outputTokens: 19 });
  });

  it('translates tool_use blocks to tool-call deltas indexed by tool call, with arguments that reassemble', () => {
    const { choices, text, usage } = stream('stream-tool-use.sse');
    expect(text).toBe("I'll check the weather in both cities.");
    const deltas = choices.flatMap((ch) => (ch.delta.tool_calls ?? []) as AnyRecord[]);
    const calls = new Map<number, { id: string; name: string; arguments: string }>();
    for (const d of deltas) {
      if (d.id) {
        expect(d.type).toBe('function');
        expect(d.function.arguments).toBe('');
        calls.set(d.index, { id: d.id, name: d.function.name, arguments: '' });
      } else {
        const call = calls.get(d.index);
        expect(call).toBeDefined();
        if (call) call.arguments += d.function.arguments;
      }
    }
    expect([...calls.keys()]).toEqual([0, 1]);
    expect(calls.get(0)).toMatchObject({ id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather' });
    expect(calls.get(1)).toMatchObject({ id: 'toolu_01WzD9sQpXb7kLTn3uMAcR2e', name: 'get_weather' });
    expect(JSON.parse(calls.get(0)?.arguments ?? '')).toEqual({ location: 'San Francisco, CA', unit: 'fahrenheit' });
    expect(JSON.parse(calls.get(1)?.arguments ?? '')).toEqual({ location: 'Kraków, PL', unit: 'celsius' });
    expect(choices.filter((ch) => ch.finish_reason).map((ch) => ch.finish_reason)).toEqual(['tool_calls']);
    expect(usage).toMatchObject({ inputTokens: 472, outputTokens: 118, totalTokens: 590, cachedInputTokens: 0 });
  });

  it('reports an overloaded error mid-stream as a retryable 503, after the text that came before it', () => {
    const { steps, text, usage } = stream('stream-error.sse');
    expect(text).toBe('Once upon a time');
    const errors = steps.flatMap((s) => (s.error ? [s.error] : []));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ type: 'provider_error', status: 503, retryable: true, provider: 'claude' });
    expect(steps.at(-1)?.error).toBe(errors[0]);
    expect(usage).toMatchObject({ inputTokens: 14 });
  });

  it('maps other in-stream error types to their HTTP meaning', () => {
    const translator = adapter.chatStream(streamCtx);
    const step = translator.event({
      event: 'error',
      data: '{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}',
    });
    expect(step.error).toMatchObject({ type: 'rate_limit_error', status: 429, retryable: true });
    const apiError = translator.event({ event: 'error', data: '{"type":"error","error":{"type":"api_error","message":"Internal server error"}}' });
    expect(apiError.error).toMatchObject({ type: 'provider_error', status: 502 });
  });

  it('translates thinking deltas to reasoning_content and ignores signatures', () => {
    const translator = adapter.chatStream(streamCtx);
    const steps = [
      { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Let me think' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'EqQBCgIYAhIM' } },
    ].map((e) => translator.event({ event: e.type, data: JSON.stringify(e) }));
    const deltas = steps.flatMap((s) => (s.chunks === 'passthrough' ? [] : (s.chunks as unknown as Chunk[]))).map((ch) => ch.choices[0]?.delta);
    expect(deltas).toEqual([{ reasoning_content: 'Let me think' }]);
  });

  it('reports an event that is not JSON as an unusable reply', () => {
    const step = adapter.chatStream(streamCtx).event({ event: 'content_block_delta', data: '{"type":"content_blo' });
    expect(step.error).toMatchObject({ status: 502, code: 'bad_upstream_response' });
  });
});

describe('error', () => {
  it('keeps 4xx statuses and the provider message', () => {
    const err = adapter.error(400, fixture('error-400.json').toString('utf8'));
    expect(err).toMatchObject({ type: 'invalid_request_error', status: 400, provider: 'claude', retryable: false });
    expect(err.message).toContain('max_tokens: 100000 > 64000');
  });

  it('never echoes the body of a credentials failure', () => {
    const body = fixture('error-401.json').toString('utf8');
    const err = adapter.error(401, body);
    expect(err).toMatchObject({ type: 'authentication_error', status: 401 });
    expect(err.message).not.toContain('x-api-key');
    expect(err.message).not.toContain(apiKey);
  });

  it('turns 529 overloaded into a retryable 503 provider_error', () => {
    const err = adapter.error(529, fixture('error-529.json').toString('utf8'));
    expect(err).toMatchObject({ type: 'provider_error', status: 503, retryable: true });
  });

  it('marks 429 as a retryable rate-limit error', () => {
    const body = '{"type":"error","error":{"type":"rate_limit_error","message":"rate limited"},"request_id":"req_1"}';
    expect(adapter.error(429, body)).toMatchObject({ type: 'rate_limit_error', status: 429, retryable: true });
  });
});

describe('models', () => {
  it('lists models with a GET carrying the same headers', () => {
    const req = adapter.modelsRequest();
    expect(req.method).toBe('GET');
    expect(req.path).toMatch(/^\/models(\?|$)/);
    expect(req.body).toBeUndefined();
    expect(req.headers).toMatchObject({ 'x-api-key': apiKey, 'anthropic-version': '2023-06-01' });
  });

  it('reads model ids from the list', () => {
    const list = {
      data: [
        { type: 'model', id: 'claude-sonnet-4-5-20250929', display_name: 'Claude Sonnet 4.5', created_at: '2025-09-29T00:00:00Z' },
        { type: 'model', id: 'claude-haiku-4-5-20251001', display_name: 'Claude Haiku 4.5', created_at: '2025-10-15T00:00:00Z' },
      ],
      has_more: false,
      first_id: 'claude-sonnet-4-5-20250929',
      last_id: 'claude-haiku-4-5-20251001',
    };
    expect(adapter.modelsResponse(list)).toEqual(['claude-sonnet-4-5-20250929', 'claude-haiku-4-5-20251001']);
    expect(() => adapter.modelsResponse({ error: 'nope' })).toThrow(GatewayError);
  });

  it('has no embeddings', () => {
    expect(adapter.embeddingsRequest).toBeUndefined();
    expect(adapter.embeddingsResponse).toBeUndefined();
  });
});
