import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.ts';
import { ingressApis } from '../../src/ingress/apis.ts';
import { estimateInputTokens } from '../../src/ingress/count.ts';
import { chunksOf } from '../../src/ingress/native.ts';
import { createAnthropicAdapter } from '../../src/providers/anthropic.ts';
import { createGeminiAdapter } from '../../src/providers/gemini.ts';
import { createOpenAiCompatibleAdapter, openAiQuirks } from '../../src/providers/openai-compatible.ts';
import type { ChatContext, ProviderAdapter, TokenUsage } from '../../src/providers/types.ts';
import { eventsOf, fixture, jsonFixture, thrown, typedEvents, type AnyRecord } from './support.ts';

const api = ingressApis.messages;
const ctx: ChatContext = { model: 'm', stream: true, includeUsage: true, defaultMaxTokens: 4096 };
const anthropic = createAnthropicAdapter({ name: 'claude', type: 'anthropic', baseUrl: 'https://api.anthropic.com/v1', apiKey: 'k', models: [] });
const gemini = createGeminiAdapter({ name: 'gemini', type: 'gemini', baseUrl: 'https://generativelanguage.googleapis.com/v1beta', apiKey: 'k', models: [] });
const openai = createOpenAiCompatibleAdapter({ name: 'openai', type: 'openai', baseUrl: 'https://api.openai.com/v1', apiKey: 'k', models: [] }, openAiQuirks.openai);

function encode(adapter: ProviderAdapter, sse: string): { events: AnyRecord[]; usage: TokenUsage | undefined } {
  const translator = adapter.chatStream(ctx);
  const encoder = api.encoder({ model: 'm', max_tokens: 100, messages: [] });
  let out = '';
  let usage: TokenUsage | undefined;
  for (const ev of eventsOf(fixture(sse))) {
    const step = translator.event(ev);
    if (step.usage) usage = step.usage;
    for (const chunk of chunksOf(step, ev)) out += encoder.chunk(chunk);
  }
  return { events: typedEvents(out + encoder.end(usage)), usage };
}

/** Rebuilds the message from its events as the Anthropic SDK's MessageStream does. */
function accumulate(events: AnyRecord[]): AnyRecord {
  expect(events[0]!.type).toBe('message_start');
  const message = structuredClone(events[0]!.message) as AnyRecord;
  const json: string[] = [];
  for (const ev of events.slice(1)) {
    if (ev.type === 'content_block_start') {
      expect(ev.index).toBe(message.content.length);
      message.content.push(ev.content_block);
    } else if (ev.type === 'content_block_delta') {
      const block = message.content[ev.index];
      if (ev.delta.type === 'text_delta') block.text += ev.delta.text;
      else if (ev.delta.type === 'thinking_delta') block.thinking += ev.delta.thinking;
      else if (ev.delta.type === 'input_json_delta') json[ev.index] = (json[ev.index] ?? '') + ev.delta.partial_json;
    } else if (ev.type === 'content_block_stop') {
      if (json[ev.index] !== undefined) message.content[ev.index].input = JSON.parse(json[ev.index]!);
    } else if (ev.type === 'message_delta') {
      message.stop_reason = ev.delta.stop_reason;
      message.usage = { ...message.usage, ...ev.usage };
    }
  }
  expect(events.at(-1)!.type).toBe('message_stop');
  return message;
}

describe('Messages request → chat completions', () => {
  it('keeps system blocks with cache_control, images, tool use and tool results in chat order', () => {
    const chat = api.toChat({
      model: 'openai/gpt-4.1',
      max_tokens: 1024,
      system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBOR' } }] },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'Use the tool.', signature: 'EqQB' },
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
          ],
        },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: '18C' }] }, { type: 'text', text: 'And Rome?' }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_2', content: 'timeout', is_error: true }] },
      ],
      tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      stop_sequences: ['\n\nHuman:'],
      metadata: { user_id: 'u-1' },
      thinking: { type: 'enabled', budget_tokens: 1024 },
      stream: true,
    });
    expect(chat).toEqual({
      model: 'openai/gpt-4.1',
      max_tokens: 1024,
      stream: true,
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }] },
        { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBOR' } }] },
        { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'toolu_1', content: '18C' },
        { role: 'user', content: 'And Rome?' },
        { role: 'tool', tool_call_id: 'toolu_2', content: 'Error: timeout' },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      tool_choice: 'required',
      parallel_tool_calls: false,
      stop: ['\n\nHuman:'],
      user: 'u-1',
      reasoning_effort: 'low',
    });
  });

  it('reaches Anthropic through the chat adapter unchanged in substance (cache_control and tools survive the round trip)', () => {
    const body = {
      model: 'm',
      max_tokens: 512,
      system: [{ type: 'text', text: 'Long context', cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: 'Hi' }],
      tools: [{ name: 't', input_schema: { type: 'object', properties: {} } }],
      tool_choice: { type: 'tool', name: 't' },
    };
    const req = JSON.parse(String(anthropic.chatRequest(api.toChat(body), { ...ctx, stream: false }).body));
    expect(req.system).toEqual(body.system);
    expect(req.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }]);
    expect(req.tools).toEqual([{ name: 't', input_schema: { type: 'object', properties: {} } }]);
    expect(req.tool_choice).toEqual({ type: 'tool', name: 't' });
    expect(req.max_tokens).toBe(512);
  });

  it('refuses server tools and blocks chat cannot carry with a 400 naming the field', () => {
    expect(thrown(() => api.toChat({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'web_search_20250305', name: 'web_search' }] })).param).toBe('tools[0]');
    const doc = thrown(() => api.toChat({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'text', data: 'x' } }] }] }));
    expect([doc.status, doc.param]).toEqual([400, 'messages[0].content[0].type']);
    expect(thrown(() => api.toChat({ model: 'm', max_tokens: 1, messages: [{ role: 'system', content: 'x' }] })).param).toBe('messages[0].role');
  });
});

describe('chat completion → Message', () => {
  it('splits cached and cache-write tokens out of input_tokens as Anthropic does', () => {
    const usage: TokenUsage = { inputTokens: 1000, cachedInputTokens: 600, cacheWriteInputTokens: 100, outputTokens: 50, reasoningTokens: 10, totalTokens: 1050, raw: {} };
    const message = api.fromChat(jsonFixture('openai/chat.json'), usage, { model: 'gpt-4o-mini' }) as AnyRecord;
    expect(message).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'gpt-4o-mini-2024-07-18',
      content: [{ type: 'text', text: 'Hello! How can I help you today?' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 300, cache_read_input_tokens: 600, cache_creation_input_tokens: 100, output_tokens: 50 },
    });
    expect(message.id).toMatch(/^msg_/);
  });

  it('turns Gemini function calls into tool_use blocks with parsed input', () => {
    const reply = gemini.chatResponse(jsonFixture('gemini/generate-function-call.json'), { ...ctx, stream: false });
    const message = api.fromChat(reply.response!, reply.usage, { model: 'm' }) as AnyRecord;
    expect(message.stop_reason).toBe('tool_use');
    const uses = message.content.filter((b: AnyRecord) => b.type === 'tool_use');
    expect(uses.length).toBeGreaterThan(0);
    for (const use of uses) expect(typeof use.input).toBe('object');
  });
});

describe('internal stream → Messages events', () => {
  it('round-trips an Anthropic stream through the internal shape: same text, same usage', () => {
    const { events } = encode(anthropic, 'anthropic/stream-text.sse');
    const message = accumulate(events);
    expect(message.content).toEqual([{ type: 'text', text: 'Hello! Zażółć gęślą jaźń — how can I help you today? 👋' }]);
    expect(message.stop_reason).toBe('end_turn');
    expect(message.usage).toEqual({ input_tokens: 25, cache_read_input_tokens: 1200, cache_creation_input_tokens: 300, output_tokens: 19 });
  });

  it('round-trips tool use and thinking blocks', () => {
    const tools = accumulate(encode(anthropic, 'anthropic/stream-tool-use.sse').events);
    const original = eventsOf(fixture('anthropic/stream-tool-use.sse')).map((e) => JSON.parse(e.data) as AnyRecord);
    const names = original.filter((e) => e.type === 'content_block_start').map((e) => e.content_block.type);
    expect(tools.content.map((b: AnyRecord) => b.type)).toEqual(names);
    expect(tools.stop_reason).toBe('tool_use');
    for (const block of tools.content.filter((b: AnyRecord) => b.type === 'tool_use')) expect(block.id).toMatch(/^toolu_/);
    const thinking = accumulate(encode(anthropic, 'anthropic/stream-thinking.sse').events);
    expect(thinking.content.map((b: AnyRecord) => b.type)).toEqual(['thinking', 'text']);
    expect(thinking.content[1].text).toBe('27 × 453 = 12,231');
  });

  it('writes an OpenAI chat stream with its usage in message_delta', () => {
    const { events, usage } = encode(openai, 'openai/stream.sse');
    const message = accumulate(events);
    expect(message.content).toHaveLength(1);
    expect(message.usage.output_tokens).toBe(usage!.outputTokens);
    expect(message.usage.input_tokens + message.usage.cache_read_input_tokens).toBe(usage!.inputTokens);
  });

  it('writes a failure as an Anthropic error event', () => {
    const encoder = api.encoder({ model: 'm' });
    const last = typedEvents(encoder.fail(new GatewayError('provider_error', 503, 'provider p is overloaded'))).at(-1)!;
    expect(last).toEqual({ type: 'error', error: { type: 'overloaded_error', message: 'provider p is overloaded' } });
  });
});

describe('relayed Anthropic replies', () => {
  it('reads usage off a message, cache reads and writes added back into the input', () => {
    expect(api.nativeResult(jsonFixture('anthropic/message.json'), 'm')).toMatchObject({
      id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
      model: 'claude-sonnet-4-5-20250929',
      usage: { inputTokens: 21 + 188 + 1536, cachedInputTokens: 1536, cacheWriteInputTokens: 188, outputTokens: 11 },
    });
  });

  it('reads usage off message_start and message_delta and ends at message_stop', () => {
    const observer = api.nativeStream('m');
    let usage: TokenUsage | undefined;
    let done = false;
    for (const ev of eventsOf(fixture('anthropic/stream-text.sse'))) {
      const step = observer.event(ev);
      if (step.usage) usage = step.usage;
      done ||= step.done === true;
    }
    expect(done).toBe(true);
    expect(usage).toMatchObject({ inputTokens: 1525, cachedInputTokens: 1200, cacheWriteInputTokens: 300, outputTokens: 19 });
    expect(observer.id).toBe('msg_01HCDu5LRGeP2o7s2xGmxyx8');
  });

  it('passes an error event on with the status of its type', () => {
    const step = api.nativeStream('m').event({ event: 'error', data: '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}' });
    expect(step.error?.status).toBe(529);
  });
});

describe('token count estimate', () => {
  it('counts about four characters a token over messages and tools, and a fixed amount per image', () => {
    const chat = api.toChat({ model: 'm', max_tokens: 1, system: 'x'.repeat(40), messages: [{ role: 'user', content: [{ type: 'text', text: 'y'.repeat(40) }, { type: 'image', source: { type: 'url', url: 'https://e/x.png' } }] }] });
    expect(estimateInputTokens(chat)).toBe(20 + 1000);
  });
});
