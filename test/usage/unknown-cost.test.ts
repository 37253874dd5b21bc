import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as api from '../../generated/sdk.gen.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { usageRow } from '../support/usage-rows.ts';

let gw: TestGateway;
const at = (iso: string) => new Date(iso);
const may = { start_date: '2026-05-10', end_date: '2026-05-12' };
const unpriced = { input_cost: null, output_cost: null, total_cost: null, cost_source: '', costs_calculation_caveat: 'no price for this model' };

beforeAll(async () => {
  gw = await startTestGateway();
  const rows = [
    usageRow({ timestamp: at('2026-05-10T08:00:00Z'), user_path: '/team', labels: ['x'] }),
    usageRow({ timestamp: at('2026-05-10T09:00:00Z'), user_path: '/team', model: 'local-llm', provider: 'ollama', provider_name: 'ollama', labels: ['x'], ...unpriced }),
    usageRow({ timestamp: at('2026-05-11T09:00:00Z'), user_path: '/team/a', model: 'local-llm', provider: 'ollama', provider_name: 'ollama', ...unpriced }),
    usageRow({ timestamp: at('2026-05-12T23:59:00Z'), user_path: '/other', model: 'local-llm', provider: 'ollama', provider_name: 'box', ...unpriced }),
    // A local-cache hit without a cost is not an unpriced provider call.
    usageRow({ timestamp: at('2026-05-11T10:00:00Z'), user_path: '/team', cache_type: 'exact', ...unpriced }),
    // Outside the range.
    usageRow({ timestamp: at('2026-05-13T00:00:00Z'), user_path: '/team', ...unpriced }),
    usageRow({ timestamp: at('2026-05-09T23:59:59Z'), user_path: '/team', ...unpriced }),
  ];
  for (const r of rows) gw.recorder.record(r);
  await gw.recorder.flush();
});

afterAll(() => gw.stop());

describe('requests of unknown cost', () => {
  it('are counted by the summary beside the known total, which leaves them out', async () => {
    const { data } = await api.getUsageSummary({ client: gw.client, query: may });
    expect(data).toMatchObject({ total_requests: 4, total_cost: 0.000027, unknown_cost_requests: 3 });
  });

  it('follow the summary filters: user path subtree, label, model, provider name, cache mode', async () => {
    const count = async (query: Record<string, string>) =>
      (await api.getUsageSummary({ client: gw.client, query: { ...may, ...query } })).data!.unknown_cost_requests;
    expect(await count({ user_path: '/team' })).toBe(2);
    expect(await count({ label: 'x' })).toBe(1);
    expect(await count({ model: 'gpt-4o-mini' })).toBe(0);
    expect(await count({ provider: 'box' })).toBe(1);
    expect(await count({ cache_mode: 'cached' })).toBe(0);
    expect(await count({ cache_mode: 'all' })).toBe(3);
  });

  it('are counted per model and provider', async () => {
    const { data } = await api.getModelUsage({ client: gw.client, query: may });
    expect(data!.map((r) => [r.model, r.provider_name, r.requests, r.total_cost, r.unknown_cost_requests])).toEqual([
      ['gpt-4o-mini', 'openai', 1, 0.000027, 0],
      ['local-llm', 'box', 1, null, 1],
      ['local-llm', 'ollama', 2, null, 2],
    ]);
  });

  it('are counted per user path', async () => {
    const { data } = await api.getUserPathUsage({ client: gw.client, query: may });
    expect(data!.map((r) => [r.user_path, r.requests, r.total_cost, r.unknown_cost_requests])).toEqual([
      ['/other', 1, null, 1],
      ['/team', 2, 0.000027, 1],
      ['/team/a', 1, null, 1],
    ]);
  });

  // Last: it prices the rows the tests above count.
  it('are no longer counted once their pricing is recalculated', async () => {
    await api.upsertModelPricingOverride({ client: gw.client, body: { selector: 'local-llm', pricing: { input_per_mtok: 1, output_per_mtok: 2 } }, throwOnError: true });
    const { data: result } = await api.recalculatePricing({ client: gw.client, body: { ...may, confirmation: 'recalculate' }, throwOnError: true });
    expect(result).toMatchObject({ with_pricing: 4, without_pricing: 0 });
    const { data } = await api.getUsageSummary({ client: gw.client, query: may });
    expect(data).toMatchObject({ total_requests: 4, unknown_cost_requests: 0 });
    expect(data!.total_cost).toBeCloseTo(0.000027 + 3 * (100 * 1 + 20 * 2) / 1e6, 12);
  });
});
