import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import * as api from '../../generated/sdk.gen.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { http, HttpResponse, mockProviders, realFetch } from '../support/providers.ts';

const OPENAI = 'https://api.openai.com/v1';
const msw = mockProviders();
let gw: TestGateway;
let sdk: OpenAI;
let upstreamCalls = 0;
let failUpstream = false;

/** gpt-4o-mini at $0.15 / $0.60 per million: 20 prompt + 50 completion tokens cost 33 µ$. */
const ACTUAL_COST = 0.000033;

beforeAll(async () => {
  msw.use(
    http.get(`${OPENAI}/models`, () => HttpResponse.json({ object: 'list', data: ['gpt-4o-mini', 'mystery-model'].map((id) => ({ id, object: 'model', created: 1, owned_by: 'x' })) })),
    http.post(`${OPENAI}/chat/completions`, async ({ request }) => {
      upstreamCalls++;
      if (failUpstream) return HttpResponse.json({ error: { message: 'boom', type: 'server_error', param: null, code: null } }, { status: 500 });
      const body = (await request.json()) as { model: string };
      return HttpResponse.json({
        id: `chatcmpl-${upstreamCalls}`,
        object: 'chat.completion',
        created: 1,
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, logprobs: null, finish_reason: 'stop' }],
        usage: { prompt_tokens: 20, completion_tokens: 50, total_tokens: 70 },
      });
    }),
  );
  gw = await startTestGateway({ OPENAI_API_KEY: 'sk-test', RETRY_MAX_RETRIES: '0' });
  sdk = new OpenAI({ apiKey: 'unused', baseURL: `${gw.url}/v1`, maxRetries: 0, fetch: realFetch });
});
afterAll(async () => {
  await gw.stop();
  msw.close();
});
beforeEach(() => {
  failUpstream = false;
});

const ask = (path: string, maxTokens = 1000, model = 'gpt-4o-mini') =>
  sdk.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: maxTokens }, { headers: { 'X-GoModel-User-Path': path } });

const budget = async (path: string) => (await api.listBudgets({ client: gw.client })).data!.budgets!.find((b) => b.user_path === path)!;

describe('enforcement before the provider is paid', () => {
  it('refuses the request that could overspend, with 429 budget_exceeded and Retry-After', async () => {
    // Each request reserves its worst case: its 83-byte body counts as 42 input tokens × $0.15 plus
    // 1000 output tokens × $0.60 per million = 606.3 µ$; it settles at 33 µ$. With $0.001, the
    // k-th request passes while 33k + 606.3 ≤ 1000 µ$: 12 pass, the 13th is refused before any
    // provider call.
    await api.upsertBudget({ client: gw.client, body: { user_path: '/team', budget_key: { period: 'daily' }, amount: 0.001 } });
    const before = upstreamCalls;
    let served = 0;
    let refusal: InstanceType<typeof OpenAI.RateLimitError> | undefined;
    for (let i = 0; i < 20 && !refusal; i++) {
      try {
        await ask('/team/search');
        served++;
        await gw.recorder.flush();
      } catch (err) {
        refusal = err as InstanceType<typeof OpenAI.RateLimitError>;
      }
    }
    expect(served).toBe(12);
    expect(upstreamCalls - before).toBe(12);
    expect(refusal).toBeInstanceOf(OpenAI.RateLimitError);
    expect(refusal!.code).toBe('budget_exceeded');
    expect(refusal!.type).toBe('rate_limit_error');
    expect(refusal!.message).toContain('budget exceeded for /team daily limit: spent $0.000396 of $0.001');
    const tomorrow = new Date();
    tomorrow.setUTCHours(24, 0, 0, 0);
    const retryAfter = Number(refusal!.headers?.get('retry-after'));
    expect(Math.abs(retryAfter - (tomorrow.getTime() - Date.now()) / 1000)).toBeLessThan(5);

    const b = await budget('/team');
    expect(b).toMatchObject({ spent: 0.000396, reserved: 0, has_usage: true });
    expect(b.spent).toBeLessThanOrEqual(b.amount!);
    const { data } = await api.getUsageSummary({ client: gw.client, query: { days: 1, user_path: '/team' } });
    expect(data?.total_cost).toBe(0.000396);
  });

  it('leaves other paths alone', async () => {
    await expect(ask('/elsewhere')).resolves.toBeTruthy();
  });

  it('says when one request alone could cost more than the whole budget', async () => {
    await api.upsertBudget({ client: gw.client, body: { user_path: '/tiny', budget_key: { period: 'hourly' }, amount: 0.0001 } });
    const err = (await ask('/tiny', 100_000).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.RateLimitError>;
    expect(err.status).toBe(429);
    expect(err.message).toMatch(/may cost up to \$0\.06.* more than the whole budget of \$0\.0001; lower max_tokens/);
    await expect(ask('/tiny', 100)).resolves.toBeTruthy();
  });

  it('gives the worst case back when the provider fails, and idle lease headroom back to the budget', async () => {
    await api.upsertBudget({ client: gw.client, body: { user_path: '/flaky', budget_key: { period: 'daily' }, amount: 1 } });
    failUpstream = true;
    await expect(ask('/flaky')).rejects.toBeInstanceOf(OpenAI.APIError);
    // the process leased a fiftieth of the budget; unused for 5 s, it goes back
    expect((await budget('/flaky')).reserved).toBe(0.02);
    await expect.poll(async () => (await budget('/flaky')).reserved, { timeout: 10_000, interval: 250 }).toBe(0);
    expect((await budget('/flaky')).has_usage).toBe(false);
  }, 15_000);

  it('lets requests through again after reset-one', async () => {
    await expect(ask('/team/search')).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    await api.resetBudget({ client: gw.client, body: { user_path: '/team', period: 'daily' } });
    await expect(ask('/team/search')).resolves.toBeTruthy();
  });

  it('gives back reservations a crashed process left behind, once they expire', async () => {
    await api.upsertBudget({ client: gw.client, body: { user_path: '/crashed', budget_key: { period: 'daily' }, amount: 0.001 } });
    // what a process that reserved $0.0009 and died leaves behind
    await gw.sql`update budgets set reserved = 0.0009 where user_path = '/crashed'`;
    await gw.sql`insert into budget_reservations (id, user_path, period_seconds, amount, expires_at)
                 values (gen_random_uuid(), '/crashed', 86400, 0.0009, now() - interval '1 second')`;
    await expect(ask('/crashed')).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    await gw.guard!.expire();
    expect(await budget('/crashed')).toMatchObject({ reserved: 0 });
    await expect(ask('/crashed')).resolves.toBeTruthy();
  });

  it('reserves the output cap of each of n choices', async () => {
    // 46 input tokens (its 91 bytes) × $0.15 + 4 × 1000 output tokens × $0.60 per million: 2,406.9 µ$, more than the budget.
    await api.upsertBudget({ client: gw.client, body: { user_path: '/choices', budget_key: { period: 'daily' }, amount: 0.002 } });
    const four = (n: unknown) =>
      realFetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-GoModel-User-Path': '/choices' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1000, n }),
      });
    const refused = await four(4);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ error: { code: 'budget_exceeded', message: expect.stringContaining('may cost up to $0.002407') } });
    const bad = await four('4');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { type: 'invalid_request_error', param: 'n' } });
    await expect(ask('/choices')).resolves.toBeTruthy();
  });

  it('prices a reply naming a model without a price at the requested model’s price', async () => {
    await api.upsertBudget({ client: gw.client, body: { user_path: '/snapshot', budget_key: { period: 'daily' }, amount: 1 } });
    msw.use(
      http.post(`${OPENAI}/chat/completions`, () =>
        HttpResponse.json({
          id: 'chatcmpl-snap', object: 'chat.completion', created: 1, model: 'gpt-4o-mini-2099-01-01',
          choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, logprobs: null, finish_reason: 'stop' }],
          usage: { prompt_tokens: 20, completion_tokens: 50, total_tokens: 70 },
        }), { once: true }),
    );
    await ask('/snapshot', 50);
    await gw.recorder.flush();
    const [row] = await gw.sql`select model, total_cost::text, costs_calculation_caveat from usage where user_path = '/snapshot'`;
    expect({ ...row }).toEqual({ model: 'gpt-4o-mini-2099-01-01', total_cost: '0.000033', costs_calculation_caveat: 'no price for openai/gpt-4o-mini-2099-01-01: priced as the requested gpt-4o-mini' });
    expect(await budget('/snapshot')).toMatchObject({ spent: 0.000033 });
  });

  it('allows requests for an unpriced model by default (BUDGET_UNKNOWN_PRICE=allow)', async () => {
    await expect(ask('/team/search', 10, 'mystery-model')).resolves.toBeTruthy();
  });
});

describe('BUDGET_UNKNOWN_PRICE=deny', () => {
  it('refuses an unpriced model on a budgeted path with 403, and allows it elsewhere', async () => {
    const strict = await startTestGateway({ OPENAI_API_KEY: 'sk-test', BUDGET_UNKNOWN_PRICE: 'deny', SET_BUDGET_STRICT: 'daily=5' });
    const client = new OpenAI({ apiKey: 'unused', baseURL: `${strict.url}/v1`, maxRetries: 0, fetch: realFetch });
    const req = (path: string) => client.chat.completions.create({ model: 'mystery-model', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'X-GoModel-User-Path': path } });
    const err = (await req('/strict/app').catch((e: unknown) => e)) as InstanceType<typeof OpenAI.PermissionDeniedError>;
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(err.code).toBe('budget_price_unknown');
    await expect(req('/open')).resolves.toBeTruthy();
    await strict.stop();
  });
});

describe('GET /v1/usage', () => {
  it('reports the caller’s usage and every budget that applies to its path', async () => {
    await gw.recorder.flush(); // rows are written in batches; the last requests' may still be queued
    const res = await realFetch(`${gw.url}/v1/usage?days=1`, { headers: { 'X-GoModel-User-Path': '/team/search' } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      user_path: string;
      usage: { total_requests: number; total_cost: number | null; start_date: string };
      budgets: { user_path: string; period_label: string; amount: number; spent: number; exceeded: boolean; resets_in_seconds: number }[];
      rate_limits: unknown[];
    };
    expect(body.user_path).toBe('/team/search');
    expect(body.usage.total_requests).toBe(14);
    expect(body.budgets.map((b) => [b.user_path, b.period_label, b.amount])).toEqual([['/team', 'daily', 0.001]]);
    expect(body.budgets[0]).toMatchObject({ exceeded: false });
    expect(body.budgets[0]!.resets_in_seconds).toBeGreaterThan(0);
    expect(body.rate_limits).toEqual([]);
  });

  it('answers a bad range or path with 400 in the OpenAI envelope', async () => {
    const range = await realFetch(`${gw.url}/v1/usage?start_date=2026-13-01`);
    expect(range.status).toBe(400);
    expect(await range.json()).toMatchObject({ error: { type: 'invalid_request_error', param: 'start_date' } });
    const path = await realFetch(`${gw.url}/v1/usage`, { headers: { 'X-GoModel-User-Path': '/a/../b' } });
    expect(await path.json()).toMatchObject({ error: { param: 'X-GoModel-User-Path' } });
  });
});
