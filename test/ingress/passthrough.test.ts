import { describe, expect, it } from 'vitest';
import { PassthroughUsage, passthroughRequest } from '../../src/ingress/passthrough.ts';
import { createAnthropicAdapter } from '../../src/providers/anthropic.ts';
import { createGeminiAdapter } from '../../src/providers/gemini.ts';
import { createOpenAiCompatibleAdapter, openAiQuirks } from '../../src/providers/openai-compatible.ts';
import type { ProviderAdapter } from '../../src/providers/types.ts';
import { eventsOf, fixture, thrown } from './support.ts';

const openai = createOpenAiCompatibleAdapter({ name: 'openai', type: 'openai', baseUrl: 'https://api.openai.com/v1', apiKey: 'sk-gateway', models: [] }, openAiQuirks.openai);
const anthropic = createAnthropicAdapter({ name: 'claude', type: 'anthropic', baseUrl: 'https://api.anthropic.com/v1', apiKey: 'sk-ant-gateway', models: [] });
const gemini = createGeminiAdapter({ name: 'gemini', type: 'gemini', baseUrl: 'https://generativelanguage.googleapis.com/v1beta', apiKey: 'AIza-gateway', models: [] });

describe('passthrough request', () => {
  it("replaces the client's credentials with the gateway's and keeps the other headers, query and body", () => {
    const body = Buffer.from('{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}');
    const req = passthroughRequest(
      anthropic,
      'POST',
      'v1/messages',
      '?beta=true',
      { authorization: 'Bearer client-key', 'x-api-key': 'client-key', 'anthropic-beta': 'prompt-caching-2024-07-31', 'content-type': 'application/json', 'x-gomodel-user-path': '/team', 'x-team': 'a', 'accept-encoding': 'gzip', host: 'gw' },
      body,
      new Set(['x-team']),
    );
    expect(req).toEqual({
      method: 'POST',
      path: '/messages?beta=true',
      headers: { 'anthropic-beta': 'prompt-caching-2024-07-31', 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'sk-ant-gateway' },
      body,
    });
  });

  it('keeps a v1 segment the base URL does not end with, and sends no body with an empty one', () => {
    const req = passthroughRequest(gemini, 'GET', 'v1/models', '', {}, Buffer.alloc(0), new Set());
    expect(req).toEqual({ method: 'GET', path: '/v1/models', headers: { 'x-goog-api-key': 'AIza-gateway' }, body: undefined });
  });

  it('refuses a path that would climb out of the base URL', () => {
    for (const endpoint of ['../admin', 'files/../../x', 'a/%2e%2e/b', 'a%2Fb', '']) {
      expect(thrown(() => passthroughRequest(openai, 'GET', endpoint, '', {}, undefined, new Set())).status).toBe(400);
    }
  });
});

describe('passthrough usage', () => {
  const read = (adapter: ProviderAdapter, path: string) => {
    const watch = new PassthroughUsage(adapter);
    if (path.endsWith('.sse')) for (const ev of eventsOf(fixture(path))) watch.event(ev);
    else watch.body(fixture(path));
    return watch;
  };

  it('reads chat completions, Responses, Anthropic and Gemini replies and streams', () => {
    expect(read(openai, 'openai/chat.json').usage).toMatchObject({ inputTokens: 1117, cachedInputTokens: 1024, outputTokens: 46 });
    expect(read(openai, 'openai/stream.sse').usage?.totalTokens).toBeGreaterThan(0);
    expect(read(openai, 'openai/responses.json').usage).toMatchObject({ inputTokens: 1290, cachedInputTokens: 1152, reasoningTokens: 192 });
    const responses = read(openai, 'openai/responses-stream.sse');
    expect(responses.usage).toMatchObject({ inputTokens: 1117, outputTokens: 46 });
    expect(responses.id).toBe('resp_68af4f1b6c3c8190a2e4b6a1d6c2f0a80c5e2b1e7f3d9a11');
    expect(read(anthropic, 'anthropic/message.json').usage).toMatchObject({ inputTokens: 1745, cachedInputTokens: 1536, cacheWriteInputTokens: 188, outputTokens: 11 });
    const stream = read(anthropic, 'anthropic/stream-text.sse');
    expect(stream.usage).toMatchObject({ inputTokens: 1525, cachedInputTokens: 1200, cacheWriteInputTokens: 300, outputTokens: 19 });
    expect(stream.model).toBe('claude-sonnet-4-5-20250929');
    expect(read(gemini, 'gemini/stream-text.sse').usage?.outputTokens).toBeGreaterThan(0);
    expect(read(gemini, 'gemini/generate-text.json').usage?.inputTokens).toBeGreaterThan(0);
  });

  it('finds no usage in replies of other shapes', () => {
    expect(read(openai, 'openai/models.json').usage).toBeNull();
    expect(read(openai, 'openai/error-502.html').usage).toBeNull();
    expect(read(anthropic, 'anthropic/count-tokens.json').usage).toBeNull();
  });
});
