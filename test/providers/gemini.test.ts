import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.ts';
import { createGeminiAdapter } from '../../src/providers/gemini.ts';
import { SseSplitter } from '../../src/providers/sse.ts';
import type { ChatContext, ProviderConfig, StreamStep } from '../../src/providers/types.ts';

const apiKey = 'AIzaSyD-secretsecretsecretsecret123';
const config: ProviderConfig = {
  name: 'gemini-eu',
  type: 'gemini',
  baseUrl: 'https://generativelanguage.googleapis.com/v1beta',
  apiKey,
  models: [],
};
const adapter = createGeminiAdapter(config);
const ctx: ChatContext = { model: 'gemini-2.5-flash', stream: false, includeUsage: false, defaultMaxTokens: 4096 };
const streamCtx: ChatContext = { ...ctx, stream: true, includeUsage: true };

const fixture = (name: string) => readFileSync(new URL(`../fixtures/gemini/${name}`, import.meta.url));
const json = (name: string): AnyRecord => JSON.parse(fixture(name).toString('utf8'));

type AnyRecord = Record<string, any>;

/** The Gemini request body for an OpenAI body. */
function translate(body: AnyRecord, c: ChatContext = ctx): AnyRecord {
  return JSON.parse(String(adapter.chatRequest({ model: c.model, ...body }, c).body ?? 'null'));
}

const user = (content: unknown) => ({ role: 'user', content });

function thrown(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    return e as GatewayError;
  }
  throw new Error('expected a GatewayError');
}

interface Chunk {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: { index: number; delta: AnyRecord; finish_reason: string | null }[];
  usage?: AnyRecord;
}

/** Feeds SSE bytes to a fresh translator in small, uneven slices, as a network would. */
function stream(bytes: Buffer, c: ChatContext = streamCtx, sizes = [1, 3, 7, 2, 13, 5, 31]) {
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

/** SSE bytes of Gemini chunks, framed as Gemini frames them. */
const sse = (...events: unknown[]) => Buffer.from(events.map((e) => `data: ${JSON.stringify(e)}\r\n\r\n`).join(''));

describe('chatRequest', () => {
  it('posts to generateContent, or streamGenerateContent with alt=sse, authenticating with a header', () => {
    const plain = adapter.chatRequest({ messages: [user('Hi')] }, ctx);
    expect(plain).toMatchObject({ method: 'POST', path: '/models/gemini-2.5-flash:generateContent' });
    expect(plain.headers).toEqual({ 'content-type': 'application/json', 'x-goog-api-key': apiKey });
    const streamed = adapter.chatRequest({ messages: [user('Hi')] }, streamCtx);
    expect(streamed.path).toBe('/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    expect(`${plain.path}${streamed.path}`).not.toContain(apiKey);
    expect(`${plain.path}${streamed.path}`).not.toContain('key=');
  });

  it('sends no key header when the provider has no key, and escapes the model in the path', () => {
    const keyless = createGeminiAdapter({ ...config, apiKey: '' });
    const req = keyless.chatRequest({ messages: [user('Hi')] }, { ...ctx, model: 'x/../files?y' });
    expect(req.headers).toEqual({ 'content-type': 'application/json' });
    expect(req.path).toBe('/models/x%2F..%2Ffiles%3Fy:generateContent');
  });

  it('moves system and developer messages to systemInstruction and maps roles', () => {
    const body = translate({
      messages: [
        { role: 'system', content: 'Be brief.' },
        user('Hi'),
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        { role: 'assistant', content: 'Bonjour.' },
        user([{ type: 'text', text: 'Thanks' }]),
      ],
    });
    expect(body.systemInstruction).toEqual({ parts: [{ text: 'Be brief.' }, { text: 'Answer in French.' }] });
    expect(body.contents).toEqual([
      { role: 'user', parts: [{ text: 'Hi' }] },
      { role: 'model', parts: [{ text: 'Bonjour.' }] },
      { role: 'user', parts: [{ text: 'Thanks' }] },
    ]);
    expect(body).not.toHaveProperty('generationConfig');
  });

  it('merges consecutive turns of the same role and skips empty messages', () => {
    const body = translate({
      messages: [user('One'), user(''), user('Two'), { role: 'assistant', content: null }, user('Three')],
    });
    expect(body.contents).toEqual([{ role: 'user', parts: [{ text: 'One' }, { text: 'Two' }, { text: 'Three' }] }]);
    expect(body).not.toHaveProperty('systemInstruction');
  });

  it('sends data: images inline and http(s) images as file data with a guessed type', () => {
    const body = translate({
      messages: [
        user([
          { type: 'text', text: 'Compare these' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'image_url', image_url: { url: 'https://example.com/a/cat.WEBP?size=large#top', detail: 'high' } },
          { type: 'image_url', image_url: { url: 'https://example.com/render?id=7' } },
          { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } },
        ]),
      ],
    });
    expect(body.contents[0].parts).toEqual([
      { text: 'Compare these' },
      { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
      { fileData: { mimeType: 'image/webp', fileUri: 'https://example.com/a/cat.WEBP?size=large#top' } },
      { fileData: { mimeType: 'image/jpeg', fileUri: 'https://example.com/render?id=7' } },
    ]);
  });

  it('rejects image URLs Gemini cannot take', () => {
    for (const url of ['data:image/png,not-base64', 'ftp://example.com/cat.png']) {
      const err = thrown(() => translate({ messages: [user([{ type: 'image_url', image_url: { url } }])] }));
      expect(err.status).toBe(400);
      expect(err.param).toBe('messages[0].content[0].image_url');
    }
  });

  it('declares function tools, cleaning their schemas of keywords Gemini rejects', () => {
    const body = translate({
      messages: [user('Weather?')],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather',
            strict: true,
            parameters: {
              $schema: 'http://json-schema.org/draft-07/schema#',
              type: 'object',
              additionalProperties: false,
              properties: {
                city: { type: 'string', description: 'City name', minLength: 1 },
                unit: { type: ['string', 'null'], enum: ['celsius', 'fahrenheit'] },
                additionalProperties: { type: 'boolean', description: 'a property that happens to have this name' },
                days: {
                  type: 'array',
                  items: { type: 'object', additionalProperties: false, properties: { date: { type: 'string', format: 'date-time' } } },
                },
                where: { anyOf: [{ type: 'string' }, { type: 'object', $id: 'x', properties: { lat: { type: 'number' } } }] },
              },
              required: ['city'],
            },
          },
        },
        { type: 'function', function: { name: 'now', parameters: { type: 'object', properties: {}, additionalProperties: false } } },
        { type: 'function', function: { name: 'ping' } },
        { type: 'custom', custom: { name: 'grammar' } },
      ],
    });
    expect(body.tools).toEqual([
      {
        functionDeclarations: [
          {
            name: 'get_weather',
            description: 'Current weather',
            parameters: {
              type: 'object',
              properties: {
                city: { type: 'string', description: 'City name', minLength: 1 },
                unit: { type: 'string', nullable: true, enum: ['celsius', 'fahrenheit'] },
                additionalProperties: { type: 'boolean', description: 'a property that happens to have this name' },
                days: { type: 'array', items: { type: 'object', properties: { date: { type: 'string', format: 'date-time' } } } },
                where: { anyOf: [{ type: 'string' }, { type: 'object', properties: { lat: { type: 'number' } } }] },
              },
              required: ['city'],
            },
          },
          { name: 'now' },
          { name: 'ping' },
        ],
      },
    ]);
  });

  it.each([
    ['auto', { mode: 'AUTO' }],
    ['none', { mode: 'NONE' }],
    ['required', { mode: 'ANY' }],
    [{ type: 'function', function: { name: 'get_weather' } }, { mode: 'ANY', allowedFunctionNames: ['get_weather'] }],
  ])('maps tool_choice %j to functionCallingConfig', (choice, expected) => {
    expect(translate({ messages: [user('x')], tool_choice: choice }).toolConfig).toEqual({ functionCallingConfig: expected });
  });

  it('replays tool calls as functionCall parts and tool results as functionResponse parts in one user turn', () => {
    const signature = 'CiQBvj72+6HI8+eJU+HjXyUghM3MM47797x9IOCmyx0odxqx3BsK';
    const body = translate({
      messages: [
        user('Weather in Paris and Tokyo?'),
        {
          role: 'assistant',
          content: 'Checking both.',
          tool_calls: [
            {
              id: 'call_0',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
              extra_content: { google: { thought_signature: signature } },
            },
            { id: 'call_1', type: 'function', function: { name: 'get_time', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '14:05' },
        { role: 'tool', tool_call_id: 'call_0', content: [{ type: 'text', text: '{"temp_c":18,"sky":"clear"}' }] },
        { role: 'tool', tool_call_id: 'call_0', content: '[1, 2]' },
      ],
    });
    expect(body.contents).toEqual([
      { role: 'user', parts: [{ text: 'Weather in Paris and Tokyo?' }] },
      {
        role: 'model',
        parts: [
          { text: 'Checking both.' },
          { functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: signature },
          { functionCall: { name: 'get_time', args: {} } },
        ],
      },
      {
        role: 'user',
        parts: [
          { functionResponse: { name: 'get_time', response: { content: '14:05' } } },
          { functionResponse: { name: 'get_weather', response: { temp_c: 18, sky: 'clear' } } },
          { functionResponse: { name: 'get_weather', response: { content: '[1, 2]' } } },
        ],
      },
    ]);
  });

  it('resolves tool names from the latest assistant turn that used the id', () => {
    const call = (name: string) => ({ role: 'assistant', tool_calls: [{ id: 'call_0', type: 'function', function: { name, arguments: '{}' } }] });
    const body = translate({
      messages: [user('a'), call('first'), { role: 'tool', tool_call_id: 'call_0', content: 'x' }, call('second'), { role: 'tool', tool_call_id: 'call_0', content: 'y' }],
    });
    const names = body.contents.map((c: AnyRecord) => c.parts[0].functionResponse?.name ?? c.parts[0].functionCall?.name ?? c.parts[0].text);
    expect(names).toEqual(['a', 'first', 'first', 'second', 'second']);
  });

  it('rejects tool results with no matching tool call and arguments that are not a JSON object', () => {
    const orphan = thrown(() => translate({ messages: [user('a'), { role: 'tool', tool_call_id: 'call_9', content: 'x' }] }));
    expect(orphan).toMatchObject({ status: 400, param: 'messages[1].tool_call_id' });
    const badArgs = thrown(() =>
      translate({
        messages: [user('a'), { role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{"city":' } }] }],
      }),
    );
    expect(badArgs).toMatchObject({ status: 400, param: 'messages[1].tool_calls[0].function.arguments' });
  });

  it('signs replayed calls without a signature on Gemini 3 only, on the first call of each turn', () => {
    const messages = [
      user('a'),
      {
        role: 'assistant',
        tool_calls: [
          { id: 'c0', type: 'function', function: { name: 'f', arguments: '{}' } },
          { id: 'c1', type: 'function', function: { name: 'g', arguments: '{}' } },
        ],
      },
    ];
    const signatures = (model: string) =>
      translate({ messages }, { ...ctx, model }).contents[1].parts.map((p: AnyRecord) => p.thoughtSignature);
    expect(signatures('gemini-3-flash-preview')).toEqual(['skip_thought_signature_validator', undefined]);
    expect(signatures('gemini-flash-latest')).toEqual(['skip_thought_signature_validator', undefined]);
    expect(signatures('gemini-2.5-flash')).toEqual([undefined, undefined]);
    expect(signatures('gemini-2.0-flash-001')).toEqual([undefined, undefined]);
  });

  it('maps sampling parameters to generationConfig and drops what Gemini does not know', () => {
    const body = translate({
      messages: [user('x')],
      temperature: 0.2,
      top_p: 0.9,
      top_k: 40,
      max_tokens: 100,
      stop: ['END', 'STOP'],
      n: 2,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      seed: 42,
      logit_bias: { 50256: -100 },
      user: 'u-1',
      parallel_tool_calls: false,
      stream_options: { include_usage: true },
      store: true,
      metadata: { a: 'b' },
      service_tier: 'flex',
    });
    expect(Object.keys(body).sort()).toEqual(['contents', 'generationConfig']);
    expect(body.generationConfig).toEqual({
      temperature: 0.2,
      topP: 0.9,
      topK: 40,
      maxOutputTokens: 100,
      stopSequences: ['END', 'STOP'],
      candidateCount: 2,
      presencePenalty: 0.5,
      frequencyPenalty: -0.5,
      seed: 42,
    });
  });

  it('takes max_completion_tokens over max_tokens and a single stop string', () => {
    const config = translate({ messages: [user('x')], max_tokens: 100, max_completion_tokens: 300, stop: 'END' }).generationConfig;
    expect(config).toEqual({ maxOutputTokens: 300, stopSequences: ['END'] });
  });

  it('maps response_format to a JSON MIME type and a cleaned response schema', () => {
    expect(translate({ messages: [user('x')], response_format: { type: 'json_object' } }).generationConfig).toEqual({
      responseMimeType: 'application/json',
    });
    expect(translate({ messages: [user('x')], response_format: { type: 'text' } })).not.toHaveProperty('generationConfig');
    const config = translate({
      messages: [user('x')],
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'person',
          strict: true,
          schema: { type: 'object', additionalProperties: false, properties: { name: { type: 'string' } }, required: ['name'] },
        },
      },
    }).generationConfig;
    expect(config).toEqual({
      responseMimeType: 'application/json',
      responseSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
    });
  });

  it.each([
    ['low', 1024],
    ['medium', 8192],
    ['high', 24576],
  ])('maps reasoning_effort %s to a thinking budget of %i tokens', (effort, budget) => {
    expect(translate({ messages: [user('x')], reasoning_effort: effort }).generationConfig).toEqual({
      thinkingConfig: { thinkingBudget: budget },
    });
  });

  it('drops reasoning efforts and tool choices it has no mapping for, prototype keys included', () => {
    for (const effort of ['minimal', 'none', 'constructor']) {
      expect(translate({ messages: [user('x')], reasoning_effort: effort })).not.toHaveProperty('generationConfig');
    }
    expect(translate({ messages: [user('x')], tool_choice: 'toString' })).not.toHaveProperty('toolConfig');
    const part = translate({ messages: [user([{ type: 'image_url', image_url: { url: 'https://x.test/a.constructor' } }])] }).contents[0].parts[0];
    expect(part.fileData.mimeType).toBe('image/jpeg');
  });
});

describe('chatResponse', () => {
  it('translates a text reply, reporting cached tokens and counting thoughts as output', () => {
    const result = adapter.chatResponse(json('generate-text.json'), ctx);
    expect(result.id).toBe('9o4YacDwJti0vr0PzqfuoQw');
    expect(result.model).toBe('gemini-2.5-flash');
    expect(result.usage).toEqual({
      inputTokens: 12114,
      cachedInputTokens: 8192,
      cacheWriteInputTokens: 0,
      outputTokens: 148 + 611,
      reasoningTokens: 611,
      totalTokens: 12873,
      raw: { cached_content_token_count: 8192, thoughts_token_count: 611 },
    });
    const response = result.response as AnyRecord;
    expect(response).toMatchObject({ id: '9o4YacDwJti0vr0PzqfuoQw', object: 'chat.completion', model: 'gemini-2.5-flash' });
    expect(Math.abs(response.created - Date.now() / 1000)).toBeLessThan(5);
    expect(response.choices).toEqual([
      {
        index: 0,
        message: { role: 'assistant', content: expect.stringMatching(/^The agreement renews automatically .* next business day\.$/) },
        finish_reason: 'stop',
        logprobs: null,
      },
    ]);
    expect(response.usage).toEqual({
      prompt_tokens: 12114,
      completion_tokens: 759,
      total_tokens: 12873,
      prompt_tokens_details: { cached_tokens: 8192 },
      completion_tokens_details: { reasoning_tokens: 611 },
    });
  });

  it('translates parallel function calls to tool calls, keeping the thought signature', () => {
    const raw = json('generate-function-call.json');
    const signature = raw.candidates[0].content.parts[0].thoughtSignature;
    const result = adapter.chatResponse(raw, ctx);
    const choice = (result.response as AnyRecord).choices[0];
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message).toEqual({
      role: 'assistant',
      content: null,
      tool_calls: [
        {
          id: 'call_0',
          type: 'function',
          function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' },
          extra_content: { google: { thought_signature: signature } },
        },
        { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Tokyo","unit":"celsius"}' } },
      ],
    });
    expect(result.usage).toMatchObject({ inputTokens: 61, outputTokens: 32 + 55, reasoningTokens: 55, totalTokens: 148, raw: { thoughts_token_count: 55 } });
  });

  it('round-trips a tool call it returned into the next request', () => {
    const message = (adapter.chatResponse(json('generate-function-call.json'), ctx).response as AnyRecord).choices[0].message;
    const body = translate({ messages: [user('Weather?'), message] }, { ...ctx, model: 'gemini-3-flash-preview' });
    expect(body.contents[1].parts).toEqual([
      { functionCall: { name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } }, thoughtSignature: message.tool_calls[0].extra_content.google.thought_signature },
      { functionCall: { name: 'get_weather', args: { city: 'Tokyo', unit: 'celsius' } } },
    ]);
  });

  it('leaves thought summaries out of the content', () => {
    const result = adapter.chatResponse(
      {
        candidates: [
          {
            content: {
              parts: [
                { text: '**Working out the sum**\nTwo plus two is four.', thought: true },
                { text: '2 + 2 = ' },
                { text: '4', thoughtSignature: 'c2ln' },
              ],
              role: 'model',
            },
            finishReason: 'STOP',
          },
        ],
        usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 5, totalTokenCount: 63, thoughtsTokenCount: 50 },
      },
      ctx,
    );
    expect((result.response as AnyRecord).choices[0].message.content).toBe('2 + 2 = 4');
    expect(result.usage).toMatchObject({ outputTokens: 55, reasoningTokens: 50 });
  });

  it.each([
    ['MAX_TOKENS', 'length'],
    ['SAFETY', 'content_filter'],
    ['RECITATION', 'content_filter'],
    ['BLOCKLIST', 'content_filter'],
    ['PROHIBITED_CONTENT', 'content_filter'],
    ['SPII', 'content_filter'],
    ['MALFORMED_FUNCTION_CALL', 'malformed_function_call'],
  ])('maps finishReason %s to %s', (reason, expected) => {
    const result = adapter.chatResponse({ candidates: [{ content: { parts: [{ text: 'x' }] }, finishReason: reason }] }, ctx);
    expect((result.response as AnyRecord).choices[0].finish_reason).toBe(expected);
  });

  it('answers a blocked prompt with a content_filter choice, not an error', () => {
    const result = adapter.chatResponse(json('generate-blocked.json'), ctx);
    expect((result.response as AnyRecord).choices).toEqual([
      { index: 0, message: { role: 'assistant', content: null }, finish_reason: 'content_filter', logprobs: null },
    ]);
    expect(result.usage).toMatchObject({ inputTokens: 7, outputTokens: 0, totalTokens: 7, raw: {} });
  });

  it('returns one choice per candidate', () => {
    const result = adapter.chatResponse(
      {
        candidates: [
          { content: { parts: [{ text: 'Red' }], role: 'model' }, finishReason: 'STOP' },
          { content: { parts: [{ text: 'Blue' }], role: 'model' }, finishReason: 'MAX_TOKENS', index: 1 },
        ],
      },
      ctx,
    );
    const choices = (result.response as AnyRecord).choices;
    expect(choices.map((c: AnyRecord) => [c.index, c.message.content, c.finish_reason])).toEqual([
      [0, 'Red', 'stop'],
      [1, 'Blue', 'length'],
    ]);
    expect(result.usage).toBeNull();
    expect(result.response).not.toHaveProperty('usage');
  });

  it('makes up an id and reports the context model when Gemini gives neither', () => {
    const result = adapter.chatResponse({ candidates: [{ content: { parts: [{ text: 'Hi' }] }, finishReason: 'STOP' }] }, ctx);
    expect(result.id).toMatch(/^gemini-[0-9a-f-]{36}$/);
    expect(result.model).toBe('gemini-2.5-flash');
    expect((result.response as AnyRecord).id).toBe(result.id);
  });

  it('counts tool-use prompt tokens as input', () => {
    const result = adapter.chatResponse(
      {
        candidates: [{ content: { parts: [{ text: 'Done' }] }, finishReason: 'STOP' }],
        usageMetadata: { promptTokenCount: 100, candidatesTokenCount: 10, toolUsePromptTokenCount: 40, totalTokenCount: 150 },
      },
      ctx,
    );
    expect(result.usage).toEqual({
      inputTokens: 140,
      cachedInputTokens: 0,
      cacheWriteInputTokens: 0,
      outputTokens: 10,
      reasoningTokens: 0,
      totalTokens: 150,
      raw: { tool_use_prompt_token_count: 40 },
    });
  });

  it('reads audio input, with its cached share, and keeps every modality but text in raw', () => {
    expect(adapter.chatResponse(json('generate-audio.json'), ctx).usage).toEqual({
      inputTokens: 10880,
      cachedInputTokens: 9216,
      cacheWriteInputTokens: 0,
      outputTokens: 212 + 380,
      reasoningTokens: 380,
      totalTokens: 11472,
      detail: { audioInputTokens: 9600, cachedAudioInputTokens: 8448 },
      raw: { cached_content_token_count: 9216, thoughts_token_count: 380, prompt_audio_token_count: 9600, cache_audio_token_count: 8448 },
    });
  });

  it('reads image output, and documents and tool-use prompts as input by modality', () => {
    expect(adapter.chatResponse(json('generate-image.json'), ctx).usage).toMatchObject({
      inputTokens: 18,
      outputTokens: 1300,
      detail: { imageOutputTokens: 1290 },
      raw: { candidates_image_token_count: 1290 },
    });
    const usageMetadata = {
      promptTokenCount: 1100,
      toolUsePromptTokenCount: 300,
      candidatesTokenCount: 40,
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: 326 }, { modality: 'DOCUMENT', tokenCount: 774 }],
      toolUsePromptTokensDetails: [{ modality: 'TEXT', tokenCount: 42 }, { modality: 'IMAGE', tokenCount: 258 }],
    };
    const result = adapter.chatResponse({ candidates: [{ content: { parts: [{ text: 'x' }] } }], usageMetadata }, ctx);
    expect(result.usage).toMatchObject({
      inputTokens: 1400,
      detail: { imageInputTokens: 774 + 258 },
      raw: { prompt_document_token_count: 774, tool_use_prompt_image_token_count: 258 },
    });
  });

  it('leaves the cached share of audio unknown when Gemini does not break the cache down', () => {
    const usageMetadata = { promptTokenCount: 1000, cachedContentTokenCount: 600, candidatesTokenCount: 5, promptTokensDetails: [{ modality: 'AUDIO', tokenCount: 900 }] };
    const result = adapter.chatResponse({ candidates: [{ content: { parts: [{ text: 'x' }] } }], usageMetadata }, ctx);
    expect(result.usage?.detail).toEqual({ audioInputTokens: 900 });
  });

  it('sums the total when Gemini leaves it out', () => {
    const result = adapter.chatResponse(
      { candidates: [{ content: { parts: [{ text: 'x' }] } }], usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 2, thoughtsTokenCount: 4 } },
      ctx,
    );
    expect(result.usage).toMatchObject({ totalTokens: 9 });
  });

  it('refuses replies it cannot use', () => {
    for (const reply of [null, 'hello', [1, 2], {}]) {
      const err = thrown(() => adapter.chatResponse(reply, ctx));
      expect(err).toMatchObject({ status: 502, type: 'provider_error', code: 'bad_upstream_response', provider: 'gemini-eu' });
    }
  });
});

describe('chatStream', () => {
  it('translates a text stream fed in small slices, with the latest usage and a usage chunk after the finish', () => {
    const { translator, chunks, choices, text, usage, steps } = stream(fixture('stream-text.sse'));
    expect(text).toBe(
      'Clementine was a ginger kitten who believed the apple on the kitchen table was a sleeping hedgehog.' +
        ' She stalked it all afternoon, and when it finally rolled off the edge she declared victory and fell asleep in the fruit bowl.',
    );
    expect(translator.id).toBe('AS47abfmNISn998PvLHjwAs');
    expect(translator.model).toBe('gemini-2.5-flash');
    for (const ch of chunks) {
      expect(ch).toMatchObject({ id: 'AS47abfmNISn998PvLHjwAs', object: 'chat.completion.chunk', model: 'gemini-2.5-flash', created: chunks[0]!.created });
    }
    expect(choices[0]!.delta).toEqual({ role: 'assistant', content: 'Clementine was a ginger kitten' });
    expect(choices.slice(1).every((c) => !('role' in c.delta))).toBe(true);
    expect(choices.map((c) => c.finish_reason)).toEqual([null, null, null, 'stop']);
    expect(steps.every((s) => s.usage)).toBe(true);
    expect(usage).toEqual({
      inputTokens: 9,
      cachedInputTokens: 0,
      cacheWriteInputTokens: 0,
      outputTokens: 47 + 517,
      reasoningTokens: 517,
      totalTokens: 573,
      raw: { thoughts_token_count: 517 },
    });
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual({
      prompt_tokens: 9,
      completion_tokens: 564,
      total_tokens: 573,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 517 },
    });
    expect(chunks.filter((c) => c.usage)).toHaveLength(1);
  });

  it('sends no usage chunk unless asked, but still reports usage', () => {
    const { chunks, usage } = stream(fixture('stream-text.sse'), { ...streamCtx, includeUsage: false });
    expect(chunks.some((c) => c.usage)).toBe(false);
    expect(usage?.totalTokens).toBe(573);
  });

  it('translates a streamed function call, skipping the empty text part', () => {
    const raw = fixture('stream-function-call.sse');
    const signature = /"thoughtSignature": "([^"]+)"/.exec(raw.toString())![1];
    const { translator, chunks, choices, usage } = stream(raw, streamCtx, [64]);
    expect(translator.model).toBe('gemini-3-flash-preview');
    expect(choices).toEqual([
      {
        index: 0,
        delta: {
          role: 'assistant',
          tool_calls: [
            {
              index: 0,
              id: 'call_0',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' },
              extra_content: { google: { thought_signature: signature } },
            },
          ],
        },
        finish_reason: null,
        logprobs: null,
      },
      { index: 0, delta: {}, finish_reason: 'tool_calls', logprobs: null },
    ]);
    expect(usage).toMatchObject({ inputTokens: 67, outputTokens: 24 + 89, totalTokens: 180 });
    expect(chunks.at(-1)!.usage).toMatchObject({ total_tokens: 180 });
  });

  it('numbers tool calls across chunks', () => {
    const call = (name: string) => ({ functionCall: { name, args: {} } });
    const { choices } = stream(
      sse(
        { candidates: [{ content: { parts: [{ text: 'Let me look.' }, call('a')], role: 'model' } }] },
        { candidates: [{ content: { parts: [call('b'), call('c')], role: 'model' }, finishReason: 'STOP' }] },
      ),
    );
    expect(choices.flatMap((c) => c.delta.tool_calls ?? []).map((t: AnyRecord) => [t.index, t.id, t.function.name])).toEqual([
      [0, 'call_0', 'a'],
      [1, 'call_1', 'b'],
      [2, 'call_2', 'c'],
    ]);
    expect(choices[0]!.delta.content).toBe('Let me look.');
    expect(choices.at(-1)!.finish_reason).toBe('tool_calls');
  });

  it('leaves thought parts out of the deltas', () => {
    const { choices } = stream(
      sse(
        { candidates: [{ content: { parts: [{ text: '**Planning**', thought: true }], role: 'model' } }] },
        { candidates: [{ content: { parts: [{ text: 'Answer.' }], role: 'model' }, finishReason: 'STOP' }] },
      ),
    );
    expect(choices.map((c) => c.delta)).toEqual([{ role: 'assistant' }, { content: 'Answer.' }]);
  });

  it('reports an error inside the stream after the text before it', () => {
    const { text, steps } = stream(fixture('stream-error.sse'));
    expect(text).toBe('Here is the first part of the summary');
    const err = steps.at(-1)!.error!;
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ status: 503, type: 'provider_error', retryable: true, provider: 'gemini-eu' });
    expect(err.message).toContain('The model is overloaded');
    expect(steps.at(-1)!.chunks).toEqual([]);
  });

  it('reports an event that is not JSON', () => {
    const err = adapter.chatStream(streamCtx).event({ data: '<html>' }).error;
    expect(err).toMatchObject({ status: 502, code: 'bad_upstream_response' });
  });

  it('finishes a blocked prompt with content_filter', () => {
    const { choices, chunks } = stream(sse(json('generate-blocked.json')));
    expect(choices).toEqual([{ index: 0, delta: { role: 'assistant' }, finish_reason: 'content_filter', logprobs: null }]);
    expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: 7 });
  });

  it('makes up an id when the stream has none', () => {
    const { translator, chunks } = stream(sse({ candidates: [{ content: { parts: [{ text: 'Hi' }] }, finishReason: 'STOP' }] }));
    expect(translator.id).toMatch(/^gemini-/);
    expect(translator.model).toBe('gemini-2.5-flash');
    expect(chunks[0]!.id).toBe(translator.id);
  });
});

describe('embeddings', () => {
  it('batches string inputs into batchEmbedContents with the output dimensionality', () => {
    const req = adapter.embeddingsRequest!({ model: 'gemini-embedding-001', input: ['alpha', 'beta'], dimensions: 128 }, 'gemini-embedding-001');
    expect(req).toMatchObject({ method: 'POST', path: '/models/gemini-embedding-001:batchEmbedContents' });
    expect(req.headers['x-goog-api-key']).toBe(apiKey);
    expect(JSON.parse(String(req.body!))).toEqual({
      requests: [
        { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'alpha' }] }, outputDimensionality: 128 },
        { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'beta' }] }, outputDimensionality: 128 },
      ],
    });
    const single = JSON.parse(String(adapter.embeddingsRequest!({ input: 'alpha', encoding_format: 'float' }, 'gemini-embedding-001').body!));
    expect(single).toEqual({ requests: [{ model: 'models/gemini-embedding-001', content: { parts: [{ text: 'alpha' }] } }] });
  });

  it('rejects token-array inputs', () => {
    for (const input of [[1, 2, 3], [[1, 2], [3]], 42]) {
      expect(thrown(() => adapter.embeddingsRequest!({ input }, 'gemini-embedding-001'))).toMatchObject({ status: 400, param: 'input' });
    }
  });

  it('translates the embeddings, recording no usage', () => {
    const raw = json('embed-batch.json');
    const result = adapter.embeddingsResponse!(raw, 'gemini-embedding-001');
    expect(result.usage).toBeNull();
    expect(result.model).toBe('gemini-embedding-001');
    const response = result.response as AnyRecord;
    expect(response).toMatchObject({ object: 'list', model: 'gemini-embedding-001', usage: { prompt_tokens: 0, total_tokens: 0 } });
    expect(response.data).toHaveLength(2);
    expect(response.data[1]).toEqual({ object: 'embedding', index: 1, embedding: raw.embeddings[1].values });
    expect(response.data[0].embedding).toHaveLength(128);
  });

  it('refuses a reply without embeddings', () => {
    for (const reply of [{}, { embeddings: [{}] }, 'x']) {
      expect(thrown(() => adapter.embeddingsResponse!(reply, 'gemini-embedding-001'))).toMatchObject({ status: 502, code: 'bad_upstream_response' });
    }
  });
});

describe('models', () => {
  it('lists models with a GET carrying the key header only', () => {
    expect(adapter.modelsRequest()).toEqual({ method: 'GET', path: '/models?pageSize=1000', headers: { 'x-goog-api-key': apiKey } });
  });

  it('strips the models/ prefix from the names', () => {
    expect(adapter.modelsResponse(json('models.json'))).toEqual([
      'gemini-2.5-flash',
      'gemini-2.5-pro',
      'gemini-3-flash-preview',
      'gemini-embedding-001',
    ]);
    expect(adapter.modelsResponse({})).toEqual([]);
    expect(thrown(() => adapter.modelsResponse('nope'))).toMatchObject({ status: 502 });
  });
});

describe('error', () => {
  const body = (name: string) => fixture(name).toString('utf8');

  it('keeps 4xx statuses and Gemini messages', () => {
    const bad = adapter.error(400, body('error-400-invalid-argument.json'));
    expect(bad).toMatchObject({ status: 400, type: 'invalid_request_error', provider: 'gemini-eu', retryable: false });
    expect(bad.message).toContain('should be non-empty for OBJECT type');
    expect(adapter.error(404, body('error-404-not-found.json'))).toMatchObject({ status: 404, type: 'not_found_error' });
    const limited = adapter.error(429, body('error-429-resource-exhausted.json'));
    expect(limited).toMatchObject({ status: 429, type: 'rate_limit_error', retryable: true });
    expect(limited.message).toContain('You exceeded your current quota');
  });

  it('treats credential failures as such, without echoing Gemini', () => {
    const forbidden = adapter.error(403, body('error-403-permission-denied.json'));
    expect(forbidden).toMatchObject({ status: 403, type: 'authentication_error' });
    expect(forbidden.message).not.toContain('unregistered callers');
    const badKey = adapter.error(400, body('error-400-api-key-invalid.json'));
    expect(badKey).toMatchObject({ status: 401, type: 'authentication_error' });
    expect(badKey.message).toContain('gemini-eu');
  });

  it('turns 5xx into 502 provider errors', () => {
    expect(adapter.error(500, body('error-500-internal.json'))).toMatchObject({
      status: 502,
      type: 'provider_error',
      code: 'upstream_error',
      retryable: false,
    });
    expect(adapter.error(500, '<html>oops</html>')).toMatchObject({ status: 502, type: 'provider_error' });
  });

  it('never puts the key in a message', () => {
    const echo = JSON.stringify({ error: { code: 400, message: `Invalid value for key ${apiKey} in request`, status: 'INVALID_ARGUMENT' } });
    const errors = [
      adapter.error(400, echo),
      adapter.error(429, echo),
      ...['error-400-api-key-invalid.json', 'error-403-permission-denied.json', 'error-429-resource-exhausted.json'].map((n) =>
        adapter.error(400, body(n)),
      ),
    ];
    for (const err of errors) {
      expect(err.message).not.toContain(apiKey);
      expect(err.message).not.toContain('AIza');
    }
    expect(errors[0]!.message).toContain('[redacted]');
  });
});
