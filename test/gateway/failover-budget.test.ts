import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as api from '../../generated/sdk.gen.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { freePort } from '../support/process.ts';
import { realFetch } from '../support/real-fetch.ts';
import { startScriptedProvider, type ScriptedProvider } from '../support/scripted-provider.ts';

// Failover on a budgeted path: each attempt reserves at its own model's price, an attempt that
// never reached its provider gives its reservation back, one that timed out after the provider
// took it is charged its reservation, and the answering attempt is charged its tokens.
let gw: TestGateway;
let ok: ScriptedProvider;
let slow: ScriptedProvider;
let dir: string;

beforeAll(async () => {
  [ok, slow] = await Promise.all([startScriptedProvider({ 'ok-model': 'ok' }), startScriptedProvider({ 'slow-model': 'hang' })]);
  dir = await mkdtemp(join(tmpdir(), 'gomodel-failover-budget-'));
  const config = join(dir, 'config.yaml');
  await writeFile(
    config,
    [
      'pricing:',
      '  - { provider: openai-ok, model: ok-model, input_per_mtok: 1, output_per_mtok: 2 }',
      '  - { provider: openai-slow, model: slow-model, input_per_mtok: 10, output_per_mtok: 20 }',
      '  - { provider: openai-dead, model: primary-model, input_per_mtok: 10, output_per_mtok: 20 }',
      '',
    ].join('\n'),
  );
  gw = await startTestGateway({
    GOMODEL_CONFIG: config,
    OPENAI_DEAD_BASE_URL: `http://127.0.0.1:${await freePort()}/v1`,
    OPENAI_DEAD_MODELS: 'primary-model',
    OPENAI_OK_BASE_URL: ok.baseUrl,
    OPENAI_SLOW_BASE_URL: slow.baseUrl,
    FAILOVER_RULES_JSON: JSON.stringify({ 'openai-dead/primary-model': ['openai-ok/ok-model'], 'openai-slow/slow-model': ['openai-ok/ok-model'] }),
    SET_BUDGET_: 'daily=100',
    RETRY_MAX_RETRIES: '0',
    HTTP_RESPONSE_HEADER_TIMEOUT: '300ms',
  });
});

afterAll(async () => {
  await gw.stop();
  ok.close();
  slow.close();
  await rm(dir, { recursive: true, force: true });
});

async function chat(model: string, requestId: string): Promise<number> {
  const res = await realFetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Request-ID': requestId },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 }),
  });
  await res.arrayBuffer();
  return res.status;
}

type Row = { provider_name: string; total_cost: string | null; cost_source: string; budget_reserved: string | null; costs_calculation_caveat: string };

async function rowsOf(requestId: string): Promise<Row[]> {
  await gw.recorder.flush();
  return gw.sql<Row[]>`
    select provider_name, total_cost::text, cost_source, budget_reserved::text, costs_calculation_caveat
      from usage where request_id = ${requestId} order by provider_name`;
}

// 12 input tokens at $1/M and 5 output tokens at $2/M.
const answered = '0.000022';

it('charges only the answering model when the primary could not be reached', async () => {
  expect(await chat('openai-dead/primary-model', 'budget-dead')).toBe(200);
  const rows = await rowsOf('budget-dead');
  expect(rows.map((r) => [r.provider_name, Number(r.total_cost), r.cost_source])).toEqual([['openai-ok', Number(answered), 'model_pricing']]);
  // The answering attempt reserved at its own model's price: $1/M and $2/M, not the primary's ten times that.
  expect(Number(rows[0]!.budget_reserved)).toBeLessThan(0.001);
});

it('charges a primary that timed out after taking the request its reservation, and the answering model its tokens', async () => {
  expect(await chat('openai-slow/slow-model', 'budget-slow')).toBe(200);
  const [okRow, slowRow] = await rowsOf('budget-slow');
  expect([okRow!.provider_name, Number(okRow!.total_cost)]).toEqual(['openai-ok', Number(answered)]);
  expect(slowRow!.provider_name).toBe('openai-slow');
  expect(slowRow!.cost_source).toBe('budget_reservation');
  expect(slowRow!.total_cost).toBe(slowRow!.budget_reserved);
  expect(slowRow!.costs_calculation_caveat).toContain('failed over: provider openai-slow did not answer in time');

  const { data } = await api.listBudgets({ client: gw.client });
  const spent = data!.budgets!.find((b) => b.user_path === '/')!.spent!;
  expect(spent).toBeCloseTo(2 * Number(answered) + Number(slowRow!.total_cost), 9);
});
