import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as admin from '../../generated/sdk.gen.ts';
import { startGateway, type Gateway } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { connect, type Sql } from '../../src/db/sql.ts';
import { createLogger } from '../../src/log.ts';
import { contractClient } from '../support/contract.ts';
import { createTestDatabase } from '../support/gateway.ts';
import { http, HttpResponse, jsonFixture, mockProviders, realFetch } from '../support/providers.ts';

// Two gateways on one database, as two replicas are: a price set through one must price the next
// rows of the other within a second (the notification, not the 30 s reload).
const KEY = 'sk-pricing-overrides';
const OPENAI = 'https://api.openai.com/v1';
const msw = mockProviders();
let db: Awaited<ReturnType<typeof createTestDatabase>>;
const replicas: { gateway: Gateway; sql: Sql; dir: string }[] = [];
let a: Gateway;
let b: Gateway;
let sent = 0;

async function replica(): Promise<Gateway> {
  const dir = await mkdtemp(join(tmpdir(), 'gomodel-price-replica-'));
  const config = loadConfig({ PORT: '0', POSTGRES_URL: db.url, USAGE_SPILL_DIR: dir, LOG_LEVEL: 'silent', GOMODEL_MASTER_KEY: KEY, OPENAI_API_KEY: 'sk-openai' });
  const sql = connect(db.url, 2);
  const gateway = await startGateway(config, { url: db.url, sql }, createLogger(config.logLevel));
  replicas.push({ gateway, sql, dir });
  return gateway;
}

beforeAll(async () => {
  msw.use(
    http.get(`${OPENAI}/models`, () => HttpResponse.json(jsonFixture('openai/models.json'))),
    // 1117 input tokens (1024 of them cached) and 46 output tokens, answered by gpt-4o-mini-2024-07-18.
    http.post(`${OPENAI}/chat/completions`, () => HttpResponse.json(jsonFixture('openai/chat.json'))),
  );
  db = await createTestDatabase();
  a = await replica();
  b = await replica();
});
afterAll(async () => {
  for (const r of replicas) {
    await r.gateway.close();
    await r.sql.end({ timeout: 1 });
    await rm(r.dir, { recursive: true, force: true });
  }
  await db.drop();
  msw.close();
});

const client = (g: Gateway) => contractClient(g.url, KEY);

/** The costs of the row of one chat request through `g`. */
async function chatCost(g: Gateway) {
  const requestId = `price-${++sent}`;
  const res = await realFetch(`${g.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json', 'X-Request-ID': requestId },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
  await g.recorder.flush();
  const [row] = await replicas[0]!.sql<{ input_cost: string | null; output_cost: string | null; total_cost: string | null }[]>`
    select input_cost::text, output_cost::text, total_cost::text from usage where request_id = ${requestId}`;
  return row!;
}

/** Requests through `g` until its row costs `total` (exact decimal); fails past a second. */
async function untilPriced(g: Gateway, total: string) {
  const start = Date.now();
  for (;;) {
    const cost = await chatCost(g);
    if (cost.total_cost?.replace(/0+$/, '') === total) return cost;
    if (Date.now() - start > 1000) throw new Error(`${g.url} did not price a row at ${total} within a second (last ${cost.total_cost})`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('model pricing overrides', () => {
  it('price the next rows of every replica within a second, the most precise selector winning', async () => {
    const before = await chatCost(b);
    expect(before.total_cost).not.toBeNull();

    const put = await admin.upsertModelPricingOverride({
      client: client(a),
      body: { selector: 'openai/gpt-4o-mini-2024-07-18', pricing: { input_per_mtok: 2, output_per_mtok: 10 } },
    });
    expect(put.response.status).toBe(200);
    expect(put.data).toMatchObject({
      selector: 'openai/gpt-4o-mini-2024-07-18', scope_kind: 'provider_model', provider_name: 'openai', model: 'gpt-4o-mini-2024-07-18',
      pricing: { input_per_mtok: 2, output_per_mtok: 10 },
    });
    // 1117 × $2 and 46 × $10 per million (cached input has no rate of its own: the input rate).
    const priced = await untilPriced(b, '0.002694');
    expect([priced.input_cost!.replace(/0+$/, ''), priced.output_cost!.replace(/0+$/, '')]).toEqual(['0.002234', '0.00046']);

    const listed = await admin.listModelPricingOverrides({ client: client(b) });
    expect(listed.data?.map((o) => [o.selector, o.scope_kind])).toEqual([['openai/gpt-4o-mini-2024-07-18', 'provider_model']]);

    // Broader selectors do not displace a more precise one.
    await admin.upsertModelPricingOverride({ client: client(a), body: { selector: '/', pricing: { input_per_mtok: 100, output_per_mtok: 100 } }, throwOnError: true });
    await admin.upsertModelPricingOverride({ client: client(a), body: { selector: 'gpt-4o-mini-2024-07-18', pricing: { input_per_mtok: 3, output_per_mtok: 3 } }, throwOnError: true });
    await admin.upsertModelPricingOverride({ client: client(a), body: { selector: 'openai/', pricing: { input_per_mtok: 5, output_per_mtok: 5 } }, throwOnError: true });
    expect((await chatCost(a)).total_cost?.replace(/0+$/, '')).toBe('0.002694');

    // Removing each, the next most precise takes over: model, then provider, then everything.
    const removed = await admin.deleteModelPricingOverride({ client: client(a), body: { selector: 'openai/gpt-4o-mini-2024-07-18' } });
    expect(removed.response.status).toBe(204);
    await untilPriced(b, '0.003489');
    await admin.deleteModelPricingOverride({ client: client(a), body: { selector: 'gpt-4o-mini-2024-07-18' }, throwOnError: true });
    await untilPriced(b, '0.005815');
    await admin.deleteModelPricingOverride({ client: client(a), body: { selector: 'openai/' }, throwOnError: true });
    await untilPriced(b, '0.1163');
    await admin.deleteModelPricingOverride({ client: client(a), body: { selector: '/' }, throwOnError: true });
    await untilPriced(b, before.total_cost!.replace(/0+$/, ''));
  });

  it.each([
    { why: 'a selector with a space', body: { selector: 'gpt 4o', pricing: { input_per_mtok: 1, output_per_mtok: 1 } }, param: 'selector' },
    { why: 'a selector ending in a slash after a model', body: { selector: 'openai/gpt-4o/', pricing: { input_per_mtok: 1, output_per_mtok: 1 } }, param: 'selector' },
    { why: 'a negative price', body: { selector: 'm', pricing: { input_per_mtok: -1, output_per_mtok: 1 } } },
    { why: 'a price finer than 9 decimal places a million tokens', body: { selector: 'm', pricing: { input_per_mtok: 0.0000000001, output_per_mtok: 1 } }, param: 'pricing' },
    { why: 'a rate the gateway does not price', body: { selector: 'm', pricing: { input_per_mtok: 1, output_per_mtok: 1, audio_input_per_mtok: 1 } } },
    { why: 'no output price', body: { selector: 'm', pricing: { input_per_mtok: 1 } } },
  ])('refuses $why with 400', async ({ body, param }) => {
    const { response, error } = await admin.upsertModelPricingOverride({ client: client(a), body: body as never });
    expect(response.status).toBe(400);
    expect(error).toMatchObject({ type: 'invalid_request_error', ...(param ? { param } : {}) });
    expect((await admin.listModelPricingOverrides({ client: client(a) })).data).toEqual([]);
  });

  it('answers the deletion of a selector without an override with 404', async () => {
    const { response, error } = await admin.deleteModelPricingOverride({ client: client(a), body: { selector: 'nothing-here' } });
    expect(response.status).toBe(404);
    expect(error).toMatchObject({ code: 'pricing_override_not_found', param: 'selector' });
  });
});
