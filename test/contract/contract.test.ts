import { OpenAPIBackend } from 'openapi-backend';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import spec from '../../openapi.json' with { type: 'json' };
import { operations } from '../../generated/operations.gen.ts';
import * as api from '../../generated/sdk.gen.ts';
import { assertDocumentedResponse } from '../support/contract.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

const KEY = 'sk-test-master-key';
let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway({ GOMODEL_MASTER_KEY: KEY, BODY_SIZE_LIMIT: '4K' });
});
afterAll(() => gw.stop());

/** A minimal valid request for each operation. */
const samples: Record<keyof typeof operations, { query?: string; body?: unknown }> = {
  getHealth: {},
  getReadiness: {},
  createChatCompletion: { body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] } },
  createEmbedding: { body: { model: 'text-embedding-3-small', input: 'hi' } },
  listModels: {},
  createResponse: { body: { model: 'gpt-4o-mini', input: 'hi' } },
  countResponseInputTokens: { body: { model: 'gpt-4o-mini', input: 'hi' } },
  getResponse: {},
  deleteResponse: {},
  cancelResponse: {},
  listResponseInputItems: {},
  createMessage: { body: { model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] } },
  countMessageTokens: { body: { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hi' }] } },
  passthroughGet: {},
  passthroughPost: { body: {} },
  passthroughPut: { body: {} },
  passthroughPatch: { body: {} },
  passthroughDelete: {},
  getUsageStatus: {},
  listBudgets: {},
  upsertBudget: { body: { user_path: '/contract', budget_key: { period: 'daily' }, amount: 5 } },
  deleteBudget: { body: { user_path: '/contract', budget_key: { period: 'daily' } } },
  getBudgetSettings: {},
  updateBudgetSettings: { body: { daily_reset_hour: 0 } },
  resetBudget: { body: { user_path: '/contract', period: 'daily' } },
  resetAllBudgets: { body: { confirmation: 'reset' } },
  getUsageSummary: {},
  getDailyUsage: {},
  getModelUsage: {},
  getUserPathUsage: {},
  getLabelUsage: {},
  getUsageLog: {},
  getSessionUsage: {},
  getAuditLog: {},
  getAuditLogDetail: { query: 'log_id=01890a5d-ac96-774b-bcce-b302099a8057' },
  getAuditConversation: { query: 'log_id=01890a5d-ac96-774b-bcce-b302099a8057' },
  getAuditSessions: {},
  getAuditStats: {},
  listModelPricingOverrides: {},
  upsertModelPricingOverride: { body: { selector: 'contract/model', pricing: { input_per_mtok: 1, output_per_mtok: 2 } } },
  deleteModelPricingOverride: { body: { selector: 'contract/absent' } },
  recalculatePricing: { body: { days: 1, confirmation: 'recalculate' } },
  getTokenThroughput: { query: 'granularity=minute' },
  getCacheOverview: { query: 'days=7' },
  listAuthKeys: {},
  createAuthKey: { body: { name: 'contract', user_path: '/contract' } },
  updateAuthKeyLabels: { body: { labels: ['a'] } },
  updateAuthKeyDashboardAccess: { body: { dashboard_access: true } },
  deactivateAuthKey: {},
  rotateAuthKey: { body: { grace_seconds: 60 } },
  deleteAuthKey: {},
  listRateLimits: {},
  upsertRateLimit: { body: { user_path: '/contract', limit_key: { period: 'minute' }, max_requests: 10 } },
  deleteRateLimit: { body: { user_path: '/contract', limit_key: { period: 'minute' } } },
  resetRateLimit: { body: { user_path: '/contract', period: 'minute' } },
  resetAllRateLimits: { body: { confirmation: 'reset' } },
  listVirtualModels: {},
  upsertVirtualModel: { body: { source: 'gpt-4o-mini', user_paths: ['/contract'] } },
  deleteVirtualModel: { body: { source: 'no-such-virtual-model' } },
  listModelInventory: { query: 'category=embedding' },
  listModelCategories: {},
  listFailoverRules: {},
  upsertFailoverRule: { body: { primary_model: 'contract-model', fallback_models: ['gpt-4o-mini'] } },
  deleteFailoverRule: { body: { primary_model: 'contract-model' } },
  resetFailoverRules: { body: { confirmation: 'reset' } },
  generateFailoverRules: { body: {} },
  getProvidersStatus: {},
  listProviderCredentials: {},
  listProviderCredentialTypes: {},
  upsertProviderCredential: { body: { name: 'contract', type: 'openai', api_keys: ['sk-contract'] } },
  deleteProviderCredential: {},
};

/** Operations on one managed key address a key id that does not exist: they answer 404 as documented. */
const ABSENT_KEY = '00000000-0000-4000-8000-000000000000';

describe('openapi.json', () => {
  // The gateway starts openapi-backend in quick mode, which skips this check.
  it('is a valid OpenAPI document', async () => {
    const check = (definition: object) => new OpenAPIBackend({ definition: definition as never, strict: true }).init();
    await expect(check(structuredClone(spec))).resolves.toBeInstanceOf(OpenAPIBackend);
    await expect(check({ ...structuredClone(spec), info: undefined })).rejects.toThrow(/not valid OpenAPI/);
  });

  it('gives every operation an operationId, a tag and a summary', () => {
    for (const [path, item] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(item as Record<string, { operationId?: string; tags?: string[]; summary?: string }>)) {
        expect(op.operationId, `${method} ${path}`).toBeTruthy();
        expect(op.tags?.length, `${method} ${path}`).toBeGreaterThan(0);
        expect(op.summary, `${method} ${path}`).toBeTruthy();
      }
    }
  });

  it.each(Object.entries(operations))('%s is dispatched to its handler and answers as documented', async (id, op) => {
    const sample = samples[id as keyof typeof operations];
    const res = await fetch(`${gw.url}${op.path.replace('{id}', ABSENT_KEY)}${sample.query ? `?${sample.query}` : ''}`, {
      method: op.method,
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      body: sample.body ? JSON.stringify(sample.body) : undefined,
    });
    const body = (await res.json()) as { code?: string; error?: { code?: string } };
    expect(body.code ?? body.error?.code).not.toBe('route_not_found');
    assertDocumentedResponse(op.method, op.path, res.status, body);
  });
});

describe('authentication', () => {
  it('leaves /health and /health/ready open', async () => {
    expect((await fetch(`${gw.url}/health`)).status).toBe(200);
    expect((await fetch(`${gw.url}/health/ready`)).status).toBe(200);
  });

  it('refuses an admin request without a bearer token', async () => {
    const res = await fetch(`${gw.url}/admin/usage/summary`);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ type: 'authentication_error', message: 'missing authorization header', param: null, code: null, status_code: 401 });
  });

  it('refuses a wrong key and a wrong scheme', async () => {
    const wrong = await fetch(`${gw.url}/admin/usage/summary`, { headers: { Authorization: 'Bearer nope' } });
    expect([wrong.status, ((await wrong.json()) as { message: string }).message]).toEqual([401, 'invalid API key']);
    const basic = await fetch(`${gw.url}/admin/usage/summary`, { headers: { Authorization: `Basic ${KEY}` } });
    expect(basic.status).toBe(401);
  });

  it('still refuses near misses of a key it has accepted (accepted values are remembered)', async () => {
    const status = async (authorization: string) => (await fetch(`${gw.url}/admin/usage/summary`, { headers: { Authorization: authorization } })).status;
    expect(await status(`Bearer ${KEY}`)).toBe(200);
    expect(await status(`Bearer ${KEY}`)).toBe(200);
    expect(await status(`bearer   ${KEY}`)).toBe(200);
    for (const near of [`Bearer ${KEY}x`, `Bearer ${KEY.slice(0, -1)}`, `Bearer ${KEY.toUpperCase()}`, `Bearer x${KEY}`]) expect(await status(near)).toBe(401);
    expect(await status(`Bearer ${KEY}`)).toBe(200);
  });

  it('answers /v1 auth failures in the OpenAI envelope', async () => {
    const res = await fetch(`${gw.url}/v1/models`, { headers: { Authorization: 'Bearer nope' } });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: { type: 'authentication_error', message: 'invalid API key', param: null, code: null } });
  });

  it('lets the generated client in with the key', async () => {
    const { response, data } = await api.getUsageSummary({ client: gw.client });
    expect(response.status).toBe(200);
    expect(data?.total_requests).toBe(0);
  });

  it('checks auth before validating parameters', async () => {
    const res = await fetch(`${gw.url}/admin/usage/log?limit=0`);
    expect(res.status).toBe(401);
  });
});

describe('HTTP edges', () => {
  const auth = { Authorization: `Bearer ${KEY}` };

  it('answers an unknown route with 404 in the dialect of its prefix', async () => {
    const admin = await fetch(`${gw.url}/admin/nothing`, { headers: auth });
    expect(admin.status).toBe(404);
    expect(await admin.json()).toMatchObject({ type: 'not_found_error', code: 'route_not_found', status_code: 404 });
    const other = await fetch(`${gw.url}/v2/whatever`, { headers: auth });
    expect(other.status).toBe(404);
    expect(await other.json()).toMatchObject({ error: { type: 'not_found_error', code: 'route_not_found' } });
  });

  it('answers a wrong method with 405 and Allow', async () => {
    const admin = await fetch(`${gw.url}/admin/usage/log`, { method: 'DELETE', headers: auth });
    expect(admin.status).toBe(405);
    expect(admin.headers.get('allow')).toBe('GET');
    expect(await admin.json()).toMatchObject({ type: 'invalid_request_error', code: 'method_not_allowed' });
    const v1 = await fetch(`${gw.url}/v1/chat/completions`, { headers: auth });
    expect(v1.status).toBe(405);
    expect(await v1.json()).toMatchObject({ error: { code: 'method_not_allowed' } });
  });

  it('refuses a body over BODY_SIZE_LIMIT with 413', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(5000) }] }),
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error', code: 'request_too_large' } });
  });

  it('refuses malformed JSON and invalid bodies with 400 naming the field', async () => {
    const post = (body: string) =>
      fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body });
    const bad = await post('{"model":');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/not valid JSON/);
    const missing = await post(JSON.stringify({ model: 'm', messages: [{ content: 'no role' }] }));
    expect(await missing.json()).toMatchObject({ error: { type: 'invalid_request_error', param: 'messages[0].role' } });
    const empty = await post(JSON.stringify({ model: 'm', messages: [] }));
    expect(await empty.json()).toMatchObject({ error: { param: 'messages' } });
  });

  it('accepts unknown fields in OpenAI requests', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x', whatever: 1 }], logit_bias: { '50256': -100 }, future_field: { a: [1] } }),
    });
    expect(res.status).not.toBe(400);
  });

  it('echoes a valid X-Request-ID and generates one otherwise', async () => {
    const given = await fetch(`${gw.url}/health`, { headers: { 'X-Request-ID': 'trace-123' } });
    expect(given.headers.get('x-request-id')).toBe('trace-123');
    const generated = await fetch(`${gw.url}/health`);
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const hostile = await fetch(`${gw.url}/health`, { headers: { 'X-Request-ID': 'a b<script>' } });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
