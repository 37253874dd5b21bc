import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { fixture, http, HttpResponse, jsonFixture, mockProviders, realFetch, sseResponse } from '../support/providers.ts';

const msw = mockProviders();
let gw: TestGateway;
let forwarded = 0;

beforeAll(async () => {
  msw.use(
    http.get('https://api.openai.com/v1/models', () => HttpResponse.json(jsonFixture('openai/models.json'))),
    http.post('https://api.openai.com/v1/chat/completions', async ({ request }) => {
      forwarded++;
      return /"stream"\s*:\s*true/.test(await request.text()) ? sseResponse(fixture('openai/stream.sse')) : HttpResponse.json(jsonFixture('openai/chat.json'));
    }),
    http.get('https://api.anthropic.com/v1/models', () =>
      HttpResponse.json({ data: [{ type: 'model', id: 'claude-sonnet-4-5', display_name: 'Claude Sonnet 4.5', created_at: '2025-09-29T00:00:00Z' }], has_more: false }),
    ),
    http.post('https://api.anthropic.com/v1/messages', () => {
      forwarded++;
      return HttpResponse.json(jsonFixture('anthropic/message.json'));
    }),
  );
  // A budget on every path: the guard prices each request's worst case from max_tokens.
  gw = await startTestGateway({ OPENAI_API_KEY: 'sk-test', ANTHROPIC_API_KEY: 'sk-ant-test', SET_BUDGET_: 'daily=1000' });
});
afterAll(async () => {
  await gw.stop();
  msw.close();
});

const chat = (body: string) => realFetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
const nested = (depth: number) => `${'['.repeat(depth)}"x"${']'.repeat(depth)}`;
const nestedObject = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

describe('numbers past every bound', () => {
  it.each(['max_tokens', 'max_completion_tokens'])('%s is bounded at 2^31 - 1: past it (1e30, 2^31, 1e400 which parses as Infinity) a 400 naming it, before the budget prices it', async (field) => {
    for (const value of ['1e400', '2147483648', '1e30']) {
      const res = await chat(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"${field}":${value}}`);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error', param: field } });
    }
    const largest = await chat(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"${field}":2147483647}`);
    // gpt-4o-mini output at $0.60 a million tokens: $1,288 for 2^31 - 1 tokens, more than the $1,000 budget.
    expect(largest.status).toBe(429);
    expect(await largest.json()).toMatchObject({ error: { type: 'rate_limit_error', code: 'budget_exceeded' } });
  });
});

/** Whether this runtime's JSON.stringify serialises a value nested 10,000 deep (Node's does not). */
const stringifiesDeepBodies = (() => {
  try {
    JSON.stringify(JSON.parse(nested(10_000)));
    return true;
  } catch {
    return false;
  }
})();

describe('bodies nested 10,000 deep', () => {
  it.each([
    ['streamed (the gateway asks for usage in the stream)', `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":${nested(10_000)}}]}`],
    ['with a provider prefix (the gateway rewrites the model)', `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":${nested(10_000)}}]}`],
    ['with a provider hint', `{"model":"gpt-4o-mini","provider":"openai","messages":[{"role":"user","content":"x","extra":${nested(10_000)}}]}`],
    ['translated for Anthropic', `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":${nestedObject(10_000)}}}]}`],
  ])('are refused with 400 body_too_deep when %s, and nothing reaches the provider', async (_what, body) => {
    const before = forwarded;
    const res = await chat(body);
    // Deno 2.9's JSON.stringify serialises this depth (Node's runs out of stack): there the gateway
    // may forward what it can rewrite, and answers 200; never a 5xx either way.
    if (res.status === 200 && stringifiesDeepBodies) {
      await res.text();
      expect(forwarded).toBe(before + 1);
      return;
    }
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: { type: 'invalid_request_error', message: 'request body is nested too deeply to forward to the provider', param: null, code: 'body_too_deep' } });
    expect(forwarded).toBe(before);
    // The same depth where the gateway changes nothing in the body: forwarded as received.
    const unchanged = await chat(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":${nested(10_000)}}]}`);
    expect(unchanged.status).toBe(200);
    expect(forwarded).toBe(before + 1);
    expect((await realFetch(`${gw.url}/health`)).status).toBe(200);
  });
});
