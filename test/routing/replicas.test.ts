import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as admin from '../../generated/sdk.gen.ts';
import { startGateway, type Gateway } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { connect, type Sql } from '../../src/db/sql.ts';
import { createLogger } from '../../src/log.ts';
import { contractClient } from '../support/contract.ts';
import { createTestDatabase } from '../support/gateway.ts';
import { http, HttpResponse, jsonFixture, mockProviders, realFetch } from '../support/providers.ts';

// Two gateways on one database, as two replicas are: a virtual model made, changed or deleted
// through one must hold on the other within a second (the notification, not the 30 s reload).
const KEY = 'sk-virtual-replicas';
const OPENAI = 'https://api.openai.com/v1';
const msw = mockProviders();
let db: Awaited<ReturnType<typeof createTestDatabase>>;
const replicas: { gateway: Gateway; sql: Sql; dir: string }[] = [];
const sentModels: string[] = [];

async function replica(): Promise<Gateway> {
  const dir = await mkdtemp(join(tmpdir(), 'gomodel-vm-replica-'));
  const config = loadConfig({ PORT: '0', POSTGRES_URL: db.url, USAGE_SPILL_DIR: dir, LOG_LEVEL: 'silent', GOMODEL_MASTER_KEY: KEY, OPENAI_API_KEY: 'sk-openai' });
  const sql = connect(db.url, 2);
  const gateway = await startGateway(config, { url: db.url, sql }, createLogger(config.logLevel));
  replicas.push({ gateway, sql, dir });
  return gateway;
}

beforeAll(async () => {
  msw.use(
    http.get(`${OPENAI}/models`, () => HttpResponse.json(jsonFixture('openai/models.json'))),
    http.post(`${OPENAI}/chat/completions`, async ({ request }) => {
      sentModels.push(((await request.json()) as { model: string }).model);
      return HttpResponse.json(jsonFixture('openai/chat.json'));
    }),
  );
  db = await createTestDatabase();
  await replica();
  await replica();
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

async function chat(g: Gateway, model: string, userPath = '/'): Promise<number> {
  const res = await realFetch(`${g.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json', 'X-GoModel-User-Path': userPath },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Milliseconds until `g` answers a request for `model` with `status` (polled every 10 ms); fails past a second. */
async function untilAnswers(g: Gateway, model: string, status: number, userPath?: string): Promise<number> {
  const start = Date.now();
  while ((await chat(g, model, userPath)) !== status) {
    if (Date.now() - start > 1000) throw new Error(`${g.url} did not answer ${status} for ${model} within a second`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

it('a virtual model made, restricted, retargeted and deleted through one replica holds on the other within a second', async () => {
  const [a, b] = [replicas[0]!.gateway, replicas[1]!.gateway];
  const client = contractClient(a.url, KEY);
  const delays: Record<string, number> = {};
  expect(await chat(b, 'shared')).toBe(404);

  expect((await admin.upsertVirtualModel({ client, body: { source: 'shared', target_model: 'openai/gpt-4o-mini' } })).response.status).toBe(200);
  delays.create = await untilAnswers(b, 'shared', 200);
  expect(sentModels.at(-1)).toBe('gpt-4o-mini');

  expect((await admin.upsertVirtualModel({ client, body: { source: 'shared', target_model: 'openai/gpt-4o-mini', user_paths: ['/team'] } })).response.status).toBe(200);
  delays.restrict = await untilAnswers(b, 'shared', 403);
  expect(await chat(b, 'shared', '/team/a')).toBe(200);

  expect((await admin.upsertVirtualModel({ client, body: { source: 'shared', target_model: 'openai/gpt-4o' } })).response.status).toBe(200);
  const retargeted = Date.now();
  while (sentModels.at(-1) !== 'gpt-4o') {
    if (Date.now() - retargeted > 1000) throw new Error('the other replica did not take the new target within a second');
    expect(await chat(b, 'shared')).toBe(200);
  }
  delays.retarget = Date.now() - retargeted;

  expect((await admin.deleteVirtualModel({ client, body: { source: 'shared' } })).response.status).toBe(204);
  delays.delete = await untilAnswers(b, 'shared', 404);
  for (const [change, ms] of Object.entries(delays)) expect(ms, change).toBeLessThan(1000);
  console.log(`virtual model changes reached the other replica in ${JSON.stringify(delays)} ms (first request that saw them)`);
}, 30_000);
