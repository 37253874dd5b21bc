import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as api from '../../generated/sdk.gen.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { freePort } from '../support/process.ts';
import { realFetch } from '../support/real-fetch.ts';
import { startScriptedProvider, type ScriptedProvider } from '../support/scripted-provider.ts';

// Real sockets on loopback: providers that refuse connections, answer 503 or 429, hang, or break
// their streams, each one counting what reaches it.
let gw: TestGateway;
let busy: ScriptedProvider;
let ok: ScriptedProvider;
let limited: ScriptedProvider;
let slow: ScriptedProvider;
let streamy: ScriptedProvider;
let flaky: ScriptedProvider;
let sdk: OpenAI;

const rules = {
  'openai-dead/primary-model': ['openai-busy/busy-model', 'openai-ok/ok-model'],
  'openai-limited/limited-model': ['openai-ok/ok-model'],
  'openai-slow/slow-model': ['openai-ok/ok-model'],
  'openai-streamy/drops-early': ['openai-ok/ok-model'],
  'openai-streamy/silent': ['openai-ok/ok-model'],
  'openai-streamy/drops-late': ['openai-ok/ok-model'],
  'openai-flaky/guarded': ['openai-ok/ok-model'],
  'openai-flaky/rejects': ['openai-ok/ok-model'],
  'openai-dead/vip-primary': ['openai-ok/vip-model'],
};

// A virtual model whose one target is the dead provider's, and a policy closing a fallback to all
// but /vip: fallbacks resolve as the request's own model does.
const virtualModels = [
  { source: 'alias-dead', target_model: 'openai-dead/primary-model' },
  { source: 'openai-ok/vip-model', user_paths: ['/vip'] },
];

beforeAll(async () => {
  [busy, ok, limited, slow, streamy, flaky] = await Promise.all([
    startScriptedProvider({ 'busy-model': { status: 503 }, 'ok-model': { status: 503 } }),
    startScriptedProvider({ 'ok-model': 'ok', 'vip-model': 'ok' }),
    startScriptedProvider({ 'limited-model': { status: 429, retryAfter: '120' } }),
    startScriptedProvider({ 'slow-model': 'hang' }),
    startScriptedProvider({ 'drops-early': 'drop-before-first-byte', silent: 'silent-after-headers', 'drops-late': 'drop-after-first-byte' }),
    startScriptedProvider({ f1: { status: 500 }, guarded: { status: 500 }, rejects: { status: 400 } }),
  ]);
  gw = await startTestGateway({
    OPENAI_DEAD_BASE_URL: `http://127.0.0.1:${await freePort()}/v1`,
    // Listed, so that the provider no one can reach does not take every unknown model.
    OPENAI_DEAD_MODELS: 'primary-model,vip-primary',
    OPENAI_BUSY_BASE_URL: busy.baseUrl,
    OPENAI_OK_BASE_URL: ok.baseUrl,
    OPENAI_LIMITED_BASE_URL: limited.baseUrl,
    OPENAI_SLOW_BASE_URL: slow.baseUrl,
    OPENAI_STREAMY_BASE_URL: streamy.baseUrl,
    OPENAI_FLAKY_BASE_URL: flaky.baseUrl,
    FAILOVER_RULES_JSON: JSON.stringify(rules),
    VIRTUAL_MODELS: JSON.stringify(virtualModels),
    RETRY_MAX_RETRIES: '1',
    RETRY_INITIAL_BACKOFF: '10ms',
    RETRY_MAX_BACKOFF: '1s',
    HTTP_RESPONSE_HEADER_TIMEOUT: '400ms',
    CIRCUIT_BREAKER_FAILURE_THRESHOLD: '3',
    CIRCUIT_BREAKER_SUCCESS_THRESHOLD: '2',
    CIRCUIT_BREAKER_TIMEOUT: '1s',
    METRICS_ENABLED: 'true',
    USAGE_FLUSH_INTERVAL: '50ms',
  });
  sdk = new OpenAI({ apiKey: 'unused', baseURL: `${gw.url}/v1`, maxRetries: 0, fetch: realFetch });
});

afterAll(async () => {
  await gw.stop();
  for (const p of [busy, ok, limited, slow, streamy, flaky]) p.close();
});

function chat(model: string, requestId: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<Response> {
  return realFetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Request-ID': requestId, ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }),
  });
}

async function rowsOf(requestId: string) {
  await gw.recorder.flush();
  return gw.sql<{ provider_name: string; model: string; total_tokens: number }[]>`
    select provider_name, model, total_tokens::int as total_tokens from usage where request_id = ${requestId} order by timestamp`;
}

const sent = (p: ScriptedProvider, model: string) => p.requests[model] ?? 0;

describe('failover with virtual models and access policies', () => {
  it('fails a virtual model over by its target\'s rule; the row keeps the virtual name as the requested model', async () => {
    const res = await chat('alias-dead', 'virtual-1');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-gomodel-provider')).toBe('openai-ok');
    await gw.recorder.flush();
    const rows = await gw.sql<{ requested_model: string; model: string; provider_name: string }[]>`
      select requested_model, model, provider_name from usage where request_id = 'virtual-1'`;
    expect(rows).toEqual([{ requested_model: 'alias-dead', model: 'ok-model', provider_name: 'openai-ok' }]);
  });

  it('never fails over to a model the caller may not use', async () => {
    const before = sent(ok, 'vip-model');
    const allowed = await chat('openai-dead/vip-primary', 'policy-vip', {}, { 'X-GoModel-User-Path': '/vip/app' });
    expect(allowed.status).toBe(200);
    expect(sent(ok, 'vip-model')).toBe(before + 1);
    const refused = await chat('openai-dead/vip-primary', 'policy-other', {}, { 'X-GoModel-User-Path': '/other' });
    expect(refused.status).toBe(502);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('upstream_unreachable');
    expect(sent(ok, 'vip-model')).toBe(before + 1);
  });
});

describe('a chain of three', () => {
  it('moves past a provider that refuses connections and one that answers 503 to the third, which answers', async () => {
    const busyBefore = sent(busy, 'busy-model');
    const res = await chat('openai-dead/primary-model', 'chain-1');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-gomodel-provider')).toBe('openai-ok');
    expect(res.headers.get('x-gomodel-model')).toBe('ok-model');
    expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe('ok from ok-model');
    // The 503 was retried by the retry policy (one retry) before the request moved on.
    expect(sent(busy, 'busy-model') - busyBefore).toBe(2);
    // One row: the answering attempt's. The refused and unreachable attempts bill nothing.
    expect(await rowsOf('chain-1')).toEqual([{ provider_name: 'openai-ok', model: 'ok-model', total_tokens: 17 }]);
  });

  it('gives the openai SDK one clean reply, streamed or not', async () => {
    const reply = await sdk.chat.completions.create({ model: 'openai-dead/primary-model', messages: [{ role: 'user', content: 'hi' }] });
    expect(reply.choices[0]?.message.content).toBe('ok from ok-model');
    const stream = await sdk.chat.completions.create({ model: 'openai-dead/primary-model', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe('ok from ok-model');
  });

  it('answers with the last error when every model of the chain fails', async () => {
    ok.models['ok-model'] = { status: 503 };
    try {
      const res = await chat('openai-dead/primary-model', 'chain-all-down');
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('upstream_error');
      expect(await rowsOf('chain-all-down')).toEqual([]);
    } finally {
      ok.models['ok-model'] = 'ok';
    }
  });
});

describe('what moves a request on', () => {
  it('a 429 whose Retry-After is beyond the retry policy moves on at once, without waiting to retry', async () => {
    const before = sent(limited, 'limited-model');
    const res = await chat('openai-limited/limited-model', 'limited-1');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-gomodel-provider')).toBe('openai-ok');
    expect(sent(limited, 'limited-model') - before).toBe(1);
  });

  it('a provider that sends no headers within HTTP_RESPONSE_HEADER_TIMEOUT', async () => {
    const res = await chat('openai-slow/slow-model', 'slow-1');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-gomodel-model')).toBe('ok-model');
  });

  it('a stream that breaks before its first byte, or sends nothing after its headers, moves on', async () => {
    for (const model of ['drops-early', 'silent']) {
      const res = await chat(`openai-streamy/${model}`, `stream-${model}`, { stream: true });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-gomodel-provider')).toBe('openai-ok');
      const text = await res.text();
      expect(text).toContain('ok from ok-model');
      expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    }
  });

  it('a stream that breaks after its first byte is never switched: the client sees it end with an error', async () => {
    const okBefore = sent(ok, 'ok-model');
    const res = await chat('openai-streamy/drops-late', 'stream-late', { stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-gomodel-provider')).toBe('openai-streamy');
    const text = await res.text();
    expect(text).toContain('ok from drops-late');
    expect(text).toContain('"code":"upstream_interrupted"');
    expect(text).not.toContain('[DONE]');
    expect(sent(ok, 'ok-model')).toBe(okBefore);
    expect((await rowsOf('stream-late')).map((r) => r.provider_name)).toEqual(['openai-streamy']);
  });

  it('a refusal that is the fault of the request (400) is never switched', async () => {
    const okBefore = sent(ok, 'ok-model');
    const res = await chat('openai-flaky/rejects', 'rejects-1');
    expect(res.status).toBe(400);
    expect(sent(ok, 'ok-model')).toBe(okBefore);
  });
});

describe('circuit breakers', () => {
  it('open after N consecutive failures, skip the provider, let one probe through after the cool-down and close after two successes', async () => {
    const failures = async () => {
      const res = await chat('openai-flaky/f1', `f1-${Math.random()}`);
      return res.status;
    };
    // A 500 is not retried (the retry policy retries 502, 503, 504, 529 and 429).
    for (let i = 0; i < 3; i++) expect(await failures()).toBe(502);
    expect(sent(flaky, 'f1')).toBe(3);
    const open = await chat('openai-flaky/f1', 'f1-open');
    expect(open.status).toBe(503);
    expect(open.headers.get('retry-after')).toBe('1');
    expect(((await open.json()) as { error: { code: string } }).error.code).toBe('circuit_open');
    expect(sent(flaky, 'f1')).toBe(3);

    const { data: status } = await api.getProvidersStatus({ client: gw.client });
    const provider = status!.providers.find((p) => p.name === 'openai-flaky')!;
    expect(provider.status).toBe('unhealthy');
    expect(provider.runtime.breakers?.map((b) => [b.model, b.state, b.consecutive_failures])).toEqual([['f1', 'open', 3]]);
    expect(provider.last_error).toContain('scripted status 500');
    expect(JSON.stringify(provider.config)).not.toContain('sk-');
    const metrics = await (await realFetch(`${gw.url}/metrics`)).text();
    expect(metrics).toContain('gomodel_circuit_breaker_state{provider="openai-flaky",model="f1"} 1');

    flaky.models.f1 = 'ok';
    await new Promise((r) => setTimeout(r, 1100));
    expect(await failures()).toBe(200);
    expect(sent(flaky, 'f1')).toBe(4);
    const half = (await api.getProvidersStatus({ client: gw.client })).data!.providers.find((p) => p.name === 'openai-flaky')!;
    expect(half.runtime.breakers?.map((b) => b.state)).toEqual(['half_open']);
    expect(await failures()).toBe(200);
    const closed = (await api.getProvidersStatus({ client: gw.client })).data!.providers.find((p) => p.name === 'openai-flaky')!;
    expect([closed.status, closed.runtime.breakers]).toEqual(['healthy', []]);
    expect(closed.runtime.latency_ms?.samples).toBeGreaterThan(0);
    expect(await (await realFetch(`${gw.url}/metrics`)).text()).toContain('gomodel_circuit_breaker_state{provider="openai-flaky",model="f1"} 0');
  });

  it('an open breaker sends requests straight to the fallback, the dead model no longer called', async () => {
    for (let i = 0; i < 3; i++) expect((await chat('openai-flaky/guarded', `g-${i}`)).status).toBe(200);
    const calls = sent(flaky, 'guarded');
    expect(calls).toBe(3);
    const res = await chat('openai-flaky/guarded', 'g-open');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-gomodel-provider')).toBe('openai-ok');
    expect(sent(flaky, 'guarded')).toBe(calls);
    const metrics = await (await realFetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/gomodel_failovers_total\{from_provider="openai-flaky",to_provider="openai-ok"\} [4-9]/);
  });
});

describe('the admin API', () => {
  it('lists the configuration rules, stores admin rules that take effect at once, deletes and resets them', async () => {
    const { data: listed } = await api.listFailoverRules({ client: gw.client });
    expect(listed!.find((r) => r.primary_model === 'openai-dead/primary-model')).toMatchObject({ fallback_models: rules['openai-dead/primary-model'], managed: false, managed_source: 'config' });

    const before = await chat('openai-busy/busy-model', 'admin-before');
    expect(before.status).toBe(503);
    const put = await api.upsertFailoverRule({ client: gw.client, body: { primary_model: 'openai-busy/busy-model', fallback_models: ['openai-ok/ok-model'] } });
    expect(put.data).toMatchObject({ primary_model: 'openai-busy/busy-model', fallback_models: ['openai-ok/ok-model'], enabled: true, managed: true, managed_source: 'admin' });
    expect((await chat('openai-busy/busy-model', 'admin-after')).status).toBe(200);

    await api.upsertFailoverRule({ client: gw.client, body: { primary_model: 'openai-busy/busy-model', fallback_models: ['openai-ok/ok-model'], enabled: false } });
    expect((await chat('openai-busy/busy-model', 'admin-disabled')).status).toBe(503);

    expect((await api.deleteFailoverRule({ client: gw.client, body: { primary_model: 'openai-busy/busy-model' } })).response.status).toBe(204);
    const missing = await api.deleteFailoverRule({ client: gw.client, body: { primary_model: 'openai-busy/busy-model' } });
    expect([missing.response.status, missing.error?.code]).toEqual([404, 'failover_rule_not_found']);

    await api.upsertFailoverRule({ client: gw.client, body: { primary_model: 'x', fallback_models: ['openai-ok/ok-model'] } });
    expect((await api.resetFailoverRules({ client: gw.client, body: {} })).response.status).toBe(400);
    const reset = await api.resetFailoverRules({ client: gw.client, body: { confirmation: 'reset' } });
    expect(reset.data!.every((r) => !r.managed)).toBe(true);
    expect(reset.data!.map((r) => r.primary_model).sort()).toEqual(Object.keys(rules).sort());
  });

  it('refuses rules it cannot apply with a 400', async () => {
    const cases = [
      { primary_model: '', fallback_models: ['openai-ok/ok-model'] },
      { primary_model: 'a', fallback_models: [] },
      { primary_model: 'a', fallback_models: ['a'] },
      { primary_model: 'a', fallback_models: ['nowhere/at-all'] },
    ];
    for (const body of cases) expect((await api.upsertFailoverRule({ client: gw.client, body })).response.status, JSON.stringify(body)).toBe(400);
  });

  it('suggests the same model at another provider', async () => {
    const { data } = await api.generateFailoverRules({ client: gw.client, body: { model: 'openai-ok/ok-model' } });
    expect(data).toEqual([{ primary_model: 'openai-ok/ok-model', fallback_models: ['openai-busy/ok-model'], enabled: true, managed: false, managed_source: 'generated' }]);
    const all = await api.generateFailoverRules({ client: gw.client, body: {} });
    expect(all.response.status).toBe(200);
    const unknown = await api.generateFailoverRules({ client: gw.client, body: { primary_model: 'nowhere/at-all' } });
    expect(unknown.response.status).toBe(404);
  });
});
