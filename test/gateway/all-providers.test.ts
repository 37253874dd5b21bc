import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as admin from '../../generated/sdk.gen.ts';
import { defaultBaseUrls } from '../../src/config.ts';
import { providerTypes } from '../../src/providers/types.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { http, HttpResponse, mockProviders, realFetch } from '../support/providers.ts';

// Every OpenAI-compatible provider type, mocked at its default base URL (Oracle has none: it gets
// one), to show each is configured from its own variables and reached with its own key.
const compatible = providerTypes.filter((t) => t !== 'anthropic' && t !== 'gemini');
const baseOf = (type: string) => defaultBaseUrls[type as keyof typeof defaultBaseUrls] ?? 'https://inference.generativeai.us-chicago-1.oci.oraclecloud.com/20231130/actions/v1';
const msw = mockProviders();
const seen = new Map<string, { authorization: string | null; model: unknown }>();
let gw: TestGateway;

beforeAll(async () => {
  const env: Record<string, string> = {};
  for (const type of compatible) {
    const prefix = type.toUpperCase();
    env[`${prefix}_API_KEY`] = `key-${type}`;
    if (type === 'oracle') env.ORACLE_BASE_URL = baseOf(type);
    msw.use(
      http.get(`${baseOf(type)}/models`, () => HttpResponse.json({ object: 'list', data: [{ id: `${type}-model`, object: 'model', created: 1, owned_by: type }] })),
      http.post(`${baseOf(type)}/chat/completions`, async ({ request }) => {
        const body = (await request.json()) as { model: string };
        seen.set(type, { authorization: request.headers.get('authorization'), model: body.model });
        return HttpResponse.json({
          id: `chatcmpl-${type}`,
          object: 'chat.completion',
          created: 1,
          model: body.model,
          choices: [{ index: 0, message: { role: 'assistant', content: `hello from ${type}` }, logprobs: null, finish_reason: 'stop' }],
          usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 },
        });
      }),
    );
  }
  gw = await startTestGateway(env);
});
afterAll(async () => {
  await gw.stop();
  msw.close();
});

it('reaches each of the thirteen OpenAI-compatible providers with its own key and records it under its type', async () => {
  expect(compatible).toHaveLength(13);
  const sdk = new OpenAI({ apiKey: 'unused', baseURL: `${gw.url}/v1`, maxRetries: 0, fetch: realFetch });
  for (const type of compatible) {
    const reply = await sdk.chat.completions.create({ model: `${type}-model`, messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'X-Request-ID': `all-${type}` } });
    expect(reply.choices[0]?.message.content).toBe(`hello from ${type}`);
    expect(seen.get(type)).toEqual({ authorization: `Bearer key-${type}`, model: `${type}-model` });
  }
  await gw.recorder.flush();
  const { data } = await admin.getModelUsage({ client: gw.client, query: { days: 1 } });
  expect(data?.map((m) => [m.provider, m.provider_name, m.requests]).sort()).toEqual(compatible.map((t) => [t, t, 1]).sort());
});
