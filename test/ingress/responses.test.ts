import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.ts';
import { ingressApis } from '../../src/ingress/apis.ts';
import { chunksOf } from '../../src/ingress/native.ts';
import { createAnthropicAdapter } from '../../src/providers/anthropic.ts';
import { createOpenAiCompatibleAdapter, openAiQuirks } from '../../src/providers/openai-compatible.ts';
import type { ChatContext, ProviderAdapter, TokenUsage } from '../../src/providers/types.ts';
import { eventsOf, fixture, jsonFixture, thrown, typedEvents, type AnyRecord } from './support.ts';

const api = ingressApis.responses;
const ctx: ChatContext = { model: 'm', stream: true, includeUsage: true, defaultMaxTokens: 4096 };
const anthropic = createAnthropicAdapter({ name: 'claude', type: 'anthropic', baseUrl: 'https://api.anthropic.com/v1', apiKey: 'k', models: [] });
const groq = createOpenAiCompatibleAdapter({ name: 'groq', type: 'groq', baseUrl: 'https://api.groq.com/openai/v1', apiKey: 'k', models: [] }, openAiQuirks.groq);

/** A provider's stream fixture, through its adapter into the internal shape and out as Responses events. */
function encode(adapter: ProviderAdapter, sse: string, request: AnyRecord = { model: 'm', input: 'hi' }): { events: AnyRecord[]; usage: TokenUsage | undefined } {
  const translator = adapter.chatStream(ctx);
  const encoder = api.encoder(request);
  let out = '';
  let usage: TokenUsage | undefined;
  for (const ev of eventsOf(fixture(sse))) {
    const step = translator.event(ev);
    if (step.usage) usage = step.usage;
    for (const chunk of chunksOf(step, ev)) out += encoder.chunk(chunk);
  }
  out += encoder.end(usage);
  return { events: typedEvents(out), usage };
}

/**
 * Rebuilds the response from its events as the openai SDK's ResponseStream does, failing where
 * the SDK would (a delta for an item or part that was never added).
 */
function accumulate(events: AnyRecord[]): AnyRecord {
  expect(events[0]!.type).toBe('response.created');
  const snapshot = structuredClone(events[0]!.response) as AnyRecord;
  events.forEach((ev, i) => expect(ev.sequence_number).toBe(i));
  for (const ev of events.slice(1)) {
    if (ev.type === 'response.output_item.added') {
      expect(ev.output_index).toBe(snapshot.output.length);
      snapshot.output.push(ev.item);
    } else if (ev.type === 'response.content_part.added') snapshot.output[ev.output_index].content.push(ev.part);
    else if (ev.type === 'response.output_text.delta') snapshot.output[ev.output_index].content[ev.content_index].text += ev.delta;
    else if (ev.type === 'response.function_call_arguments.delta') snapshot.output[ev.output_index].arguments += ev.delta;
  }
  return snapshot;
}

describe('Responses request → chat completions', () => {
  it('turns instructions and a string input into system and user messages, and maps the sampling fields', () => {
    const chat = api.toChat({
      model: 'claude/claude-sonnet-4-5',
      instructions: 'Be brief.',
      input: 'Hello',
      max_output_tokens: 300,
      temperature: 0.2,
      reasoning: { effort: 'low', summary: 'auto' },
      text: { format: { type: 'json_schema', name: 'answer', schema: { type: 'object' }, strict: true } },
      safety_identifier: 'user-42',
      store: true,
      stream: true,
    });
    expect(chat).toEqual({
      model: 'claude/claude-sonnet-4-5',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hello' },
      ],
      stream: true,
      max_tokens: 300,
      temperature: 0.2,
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' }, strict: true } },
      reasoning_effort: 'low',
      user: 'user-42',
    });
  });

  it('turns input items (images, function calls and their outputs) into chat messages', () => {
    const chat = api.toChat({
      model: 'm',
      input: [
        { role: 'developer', content: 'Use tools.' },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Weather here?' }, { type: 'input_image', image_url: 'data:image/png;base64,iVBOR', detail: 'low' }] },
        { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'thinking' }], encrypted_content: 'gAAAA' },
        { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'function_call', call_id: 'call_2', name: 'get_weather', arguments: '{"city":"Rome"}' },
        { type: 'function_call_output', call_id: 'call_1', output: '18C' },
        { type: 'function_call_output', call_id: 'call_2', output: [{ type: 'input_text', text: '22C' }] },
        { role: 'assistant', content: [{ type: 'output_text', text: 'Paris 18C, Rome 22C.' }] },
      ],
      tools: [{ type: 'function', name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: true }],
      tool_choice: { type: 'function', name: 'get_weather' },
      parallel_tool_calls: false,
    });
    expect(chat.messages).toEqual([
      { role: 'developer', content: 'Use tools.' },
      { role: 'user', content: [{ type: 'text', text: 'Weather here?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBOR', detail: 'low' } }] },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '18C' },
      { role: 'tool', tool_call_id: 'call_2', content: '22C' },
      { role: 'assistant', content: 'Paris 18C, Rome 22C.' },
    ]);
    expect(chat.tools).toEqual([
      { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: true } },
    ]);
    expect(chat.tool_choice).toEqual({ type: 'function', function: { name: 'get_weather' } });
    expect(chat.parallel_tool_calls).toBe(false);
  });

  it('refuses with a 400 what only a provider that keeps state or hosts tools can do', () => {
    const prev = thrown(() => api.toChat({ model: 'm', input: 'hi', previous_response_id: 'resp_1' }));
    expect([prev.status, prev.param, prev.code]).toEqual([400, 'previous_response_id', 'unsupported_parameter']);
    expect(prev.message).toMatch(/send the whole conversation/);
    expect(thrown(() => api.toChat({ model: 'm', input: 'hi', tools: [{ type: 'web_search' }] })).param).toBe('tools[0]');
    expect(thrown(() => api.toChat({ model: 'm', input: [{ type: 'item_reference', id: 'msg_1' }] })).param).toBe('input[0].type');
    expect(thrown(() => api.toChat({ model: 'm', input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'file-1' }] }] })).param).toBe('input[0].content[0].type');
    expect(thrown(() => api.toChat({ model: 'm', input: 42 })).status).toBe(400);
  });
});

describe('chat completion → Response object', () => {
  it('makes a completed response with an output_text message and the usage in Responses names', () => {
    const completion = jsonFixture('openai/chat.json');
    const usage: TokenUsage = { inputTokens: 1117, cachedInputTokens: 1024, cacheWriteInputTokens: 0, outputTokens: 46, reasoningTokens: 0, totalTokens: 1163, raw: {} };
    const response = api.fromChat(completion, usage, { model: 'gpt-4o-mini', input: 'hi', instructions: 'Be brief.', max_output_tokens: 50 }) as AnyRecord;
    expect(response).toMatchObject({
      object: 'response',
      status: 'completed',
      model: 'gpt-4o-mini-2024-07-18',
      instructions: 'Be brief.',
      max_output_tokens: 50,
      store: false,
      output: [{ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Hello! How can I help you today?', annotations: [] }] }],
      usage: { input_tokens: 1117, input_tokens_details: { cached_tokens: 1024 }, output_tokens: 46, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 1163 },
    });
    expect(response.id).toMatch(/^resp_[0-9a-f]{24}$/);
  });

  it('turns tool calls into function_call items, reasoning into a summary, and a length stop into incomplete', () => {
    const anthropicReply = anthropic.chatResponse(jsonFixture('anthropic/tool-use.json'), { ...ctx, stream: false });
    const response = api.fromChat(anthropicReply.response!, anthropicReply.usage, { model: 'm', input: 'hi' }) as AnyRecord;
    expect(response.output).toEqual([
      { id: expect.stringMatching(/^fc_/), type: 'function_call', status: 'completed', call_id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_weather', arguments: '{"location":"San Francisco, CA","unit":"celsius"}' },
    ]);
    const cut = api.fromChat({ choices: [{ index: 0, message: { role: 'assistant', content: 'Par', reasoning_content: 'France…' }, finish_reason: 'length' }] }, null, { model: 'm', input: 'hi' }) as AnyRecord;
    expect(cut.status).toBe('incomplete');
    expect(cut.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(cut.output.map((o: AnyRecord) => o.type)).toEqual(['reasoning', 'message']);
    expect(cut.output[0].summary).toEqual([{ type: 'summary_text', text: 'France…' }]);
    expect(cut.usage).toBeNull();
  });
});

describe('internal stream → Responses events', () => {
  it('writes an OpenAI-compatible chat stream as created, item, part, deltas, dones and completed with usage', () => {
    const { events } = encode(groq, 'openai/stream.sse');
    const types = events.map((e) => e.type);
    expect(types.slice(0, 4)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    expect(types.slice(-4)).toEqual(['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
    const snapshot = accumulate(events);
    const completed = events.at(-1)!.response;
    expect(completed.status).toBe('completed');
    expect(completed.output[0].content[0].text).toBe(snapshot.output[0].content[0].text);
    expect(completed.usage.input_tokens).toBeGreaterThan(0);
    expect(events.find((e) => e.type === 'response.output_text.done')!.text).toBe(snapshot.output[0].content[0].text);
    // One response id and one item id throughout.
    expect(new Set(events.filter((e) => e.response).map((e) => e.response.id)).size).toBe(1);
    expect(new Set(events.filter((e) => e.item_id).map((e) => e.item_id)).size).toBe(1);
  });

  it('writes an Anthropic tool-use stream as a message then function_call items whose arguments add up', () => {
    const { events, usage } = encode(anthropic, 'anthropic/stream-tool-use.sse');
    const snapshot = accumulate(events);
    const completed = events.at(-1)!.response;
    expect(completed.output.map((o: AnyRecord) => o.type)).toEqual(snapshot.output.map((o: AnyRecord) => o.type));
    expect(completed.output[0].type).toBe('message');
    const calls = completed.output.filter((o: AnyRecord) => o.type === 'function_call');
    expect(calls.length).toBeGreaterThan(0);
    calls.forEach((call: AnyRecord, i: number) => {
      expect(call.call_id).toMatch(/^toolu_/);
      expect(() => JSON.parse(call.arguments)).not.toThrow();
      expect(call.arguments).toBe(snapshot.output[completed.output.indexOf(call)].arguments);
      expect(events.filter((e) => e.type === 'response.function_call_arguments.done')[i]!.arguments).toBe(call.arguments);
    });
    expect(completed.usage).toEqual({ input_tokens: usage!.inputTokens, input_tokens_details: { cached_tokens: 0 }, output_tokens: usage!.outputTokens, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: usage!.totalTokens });
  });

  it('writes thinking as a reasoning item with a summary before the message', () => {
    const { events } = encode(anthropic, 'anthropic/stream-thinking.sse');
    const completed = events.at(-1)!.response;
    expect(completed.output.map((o: AnyRecord) => o.type)).toEqual(['reasoning', 'message']);
    expect(completed.output[0].summary[0].text).toMatch(/27 \* 453/);
    expect(events.some((e) => e.type === 'response.reasoning_summary_text.delta')).toBe(true);
  });

  it('ends a stream that failed with an error event the SDK raises', () => {
    const encoder = api.encoder({ model: 'm', input: 'hi' });
    const text = encoder.chunk({ model: 'm', choices: [{ index: 0, delta: { content: 'Hi' } }] }) + encoder.fail(new GatewayError('provider_error', 502, 'provider p dropped the connection mid-reply', { code: 'upstream_interrupted' }));
    const last = typedEvents(text).at(-1)!;
    expect(last).toMatchObject({ type: 'error', code: 'upstream_interrupted', message: 'provider p dropped the connection mid-reply' });
  });
});

describe('relayed Responses replies', () => {
  it('reads usage, id and model off a reply, reasoning and cached tokens included', () => {
    const result = api.nativeResult(jsonFixture('openai/responses.json'), 'fallback');
    expect(result.id).toBe('resp_68af4030592c81938ec0a5fbab4a3e9f05438e46b5f69a3b');
    expect(result.model).toBe('gpt-5-mini-2025-08-07');
    expect(result.usage).toEqual({
      inputTokens: 1290,
      cachedInputTokens: 1152,
      cacheWriteInputTokens: 0,
      outputTokens: 211,
      reasoningTokens: 192,
      totalTokens: 1501,
      raw: { prompt_cached_tokens: 1152, completion_reasoning_tokens: 192 },
    });
  });

  it('reads usage off a stream from response.created and response.completed only, and knows when it is done', () => {
    const observer = api.nativeStream('fallback');
    const steps = eventsOf(fixture('openai/responses-stream.sse')).map((ev) => observer.event(ev));
    expect(steps.slice(0, -1).every((s) => !s.usage && !s.done)).toBe(true);
    expect(steps.at(-1)).toMatchObject({ done: true, usage: { inputTokens: 1117, cachedInputTokens: 1024, outputTokens: 46, totalTokens: 1163 } });
    expect(observer.id).toBe('resp_68af4f1b6c3c8190a2e4b6a1d6c2f0a80c5e2b1e7f3d9a11');
    expect(observer.model).toBe('gpt-4.1-mini-2025-04-14');
  });

  it('passes an error event on for the adapter to map', () => {
    const observer = api.nativeStream('m');
    const step = observer.event({ event: 'error', data: '{"type":"error","code":"server_error","message":"The server had an error","param":null,"sequence_number":3}' });
    expect(step.error?.status).toBe(502);
    expect(JSON.parse(step.error!.body).error.message).toBe('The server had an error');
  });
});
