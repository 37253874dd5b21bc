import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as admin from '../../generated/sdk.gen.ts';
import type { UsageRecord } from '../../src/usage/record.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { usageRow } from '../support/usage-rows.ts';

// Stored rows priced again at today's prices: the rows' costs exact, every rollup still equal to
// the raw rows afterwards (whatever cube answers), and only rows priced from tokens touched.
let gw: TestGateway;
const range = { start_date: '2026-05-10', end_date: '2026-05-12' };
const paths = ['/', '/acme', '/acme/search', '/acme/search/api', '/globex'];
const labelSets = [[], ['a'], ['a', 'b']];

/** gpt-4o-mini rows stored at wrong costs, unpriced rows of a model priced later, and rows to keep. */
function rows(): UsageRecord[] {
  const list: UsageRecord[] = [];
  for (let i = 0; i < 60; i++) {
    const common = {
      request_id: `rc-${i}`,
      // Three days, each hour, and the :30 edges of Asia/Kolkata.
      timestamp: new Date(Date.UTC(2026, 4, 10 + (i % 3), i % 24, (i % 4) * 15)),
      user_path: paths[i % paths.length]!,
      labels: labelSets[i % labelSets.length]!,
    };
    if (i % 3 === 0) {
      list.push(usageRow({ ...common, input_cost: '1', output_cost: '0.5', total_cost: '1.5' }));
    } else if (i % 3 === 1) {
      list.push(usageRow({ ...common, model: 'house-model', input_cost: null, output_cost: null, total_cost: null, cost_source: '', costs_calculation_caveat: 'no price for openai/house-model' }));
    } else {
      list.push(usageRow(common));
    }
  }
  // Kept: a cost OpenRouter reported, a local-cache hit, usage with audio parts, unknown usage, and a row outside the range.
  list.push(
    usageRow({ request_id: 'keep-openrouter', timestamp: new Date('2026-05-11T10:00:00Z'), provider: 'openrouter', provider_name: 'openrouter', input_cost: null, output_cost: null, total_cost: '0.9', cost_source: 'openrouter_credits' }),
    usageRow({ request_id: 'keep-hit', timestamp: new Date('2026-05-11T10:00:00Z'), cache_type: 'exact', input_cost: '3', output_cost: '3', total_cost: '6' }),
    usageRow({ request_id: 'keep-audio', timestamp: new Date('2026-05-11T11:00:00Z'), raw_data: { prompt_audio_tokens: 40 }, input_cost: '2', output_cost: '2', total_cost: '4' }),
    usageRow({ request_id: 'keep-unknown', timestamp: new Date('2026-05-11T12:00:00Z'), input_tokens: 0, output_tokens: 0, input_cost: null, output_cost: null, total_cost: null, cost_source: '', costs_calculation_caveat: 'stream failed before the provider reported usage' }),
    usageRow({ request_id: 'keep-outside', timestamp: new Date('2026-05-13T00:00:00Z'), input_cost: '1', output_cost: '1', total_cost: '2' }),
  );
  return list;
}

beforeAll(async () => {
  gw = await startTestGateway({ GOMODEL_MASTER_KEY: 'sk-recalculate' });
  const all = rows();
  // Several INSERT statements: the rollups hold groups folded from more than one batch.
  for (let i = 0; i < all.length; i += 20) {
    for (const r of all.slice(i, i + 20)) gw.recorder.record(r);
    await gw.recorder.flush();
  }
});
afterAll(() => gw.stop());

async function costOf(requestId: string) {
  const [row] = await gw.sql<{ input_cost: string | null; output_cost: string | null; total_cost: string | null; cost_source: string }[]>`
    select input_cost::text, output_cost::text, total_cost::text, cost_source from usage where request_id = ${requestId}`;
  const trim = (v: string | null) => (v === null ? null : v.includes('.') ? v.replace(/\.?0+$/, '') : v);
  return { input_cost: trim(row!.input_cost), output_cost: trim(row!.output_cost), total_cost: trim(row!.total_cost), cost_source: row!.cost_source };
}

const sorted = <T extends unknown[]>(list: T[]) => list.sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : String(a[0]) > String(b[0]) ? 1 : 0));

type Query = { user_path?: string; label?: string; model?: string };

/** The API's answers (rollups) against the same sums over raw rows, as exact decimal text. */
async function expectRollupsEqualRows(tz: string, f: Query) {
  const headers = { 'X-GoModel-Timezone': tz };
  const query = { ...range, ...f, cache_mode: 'all' as const };
  const [summary, models, paths_, labels, days] = await Promise.all([
    admin.getUsageSummary({ client: gw.client, query, headers, throwOnError: true }),
    admin.getModelUsage({ client: gw.client, query, headers, throwOnError: true }),
    admin.getUserPathUsage({ client: gw.client, query, headers, throwOnError: true }),
    admin.getLabelUsage({ client: gw.client, query, headers, throwOnError: true }),
    admin.getDailyUsage({ client: gw.client, query, headers, throwOnError: true }),
  ]);
  const raw = async (by: string) => {
    const label = by === 'label';
    const rows = await gw.sql.unsafe(
      `select ${by} as key, count(*)::int as requests, sum(total_cost)::float8 as total_cost,
              count(*) filter (where total_cost is null and cache_type = '')::int as unknown
         from usage ${label ? 'cross join lateral unnest(labels) as label' : ''}
        where "timestamp" >= (date '2026-05-10')::timestamp at time zone $1 and "timestamp" < (date '2026-05-13')::timestamp at time zone $1
          and ($2::text is null or user_path = $2 or user_path like $2 || '/%' or $2 = '/')
          and ($3::text is null or ${label ? 'label = $3' : '$3 = any(labels)'})
          and ($4::text is null or model = $4)
        group by 1 order by 1`,
      [tz, f.user_path ?? null, f.label ?? null, f.model ?? null],
    );
    return sorted(rows.map((r) => [String(r.key), r.requests as number, r.total_cost as number | null, r.unknown as number]));
  };
  // Labels and days say no count of unknown costs.
  const counted = async (by: string) => (await raw(by)).map((r) => r.slice(0, 3));
  const t = summary.data!;
  expect(t.total_requests ? [['all', t.total_requests, t.total_cost, t.unknown_cost_requests]] : []).toEqual(await raw(`'all'`));
  expect(sorted(models.data!.map((m) => [`${m.model} ${m.provider_name}`, m.requests, m.total_cost, m.unknown_cost_requests]))).toEqual(
    await raw(`model || ' ' || provider_name`),
  );
  expect(sorted(paths_.data!.map((p) => [p.user_path!, p.requests, p.total_cost, p.unknown_cost_requests]))).toEqual(await raw('user_path'));
  expect(sorted(labels.data!.map((l) => [l.label!, l.requests, l.total_cost]))).toEqual(await counted('label'));
  expect(sorted(days.data!.map((d) => [d.date!, d.requests, d.total_cost ?? null]))).toEqual(await counted(`to_char("timestamp" at time zone '${tz}', 'YYYY-MM-DD')`));
}

describe('POST /admin/usage/recalculate-pricing', () => {
  it('refuses without the confirmation', async () => {
    const { response, error } = await admin.recalculatePricing({ client: gw.client, body: { ...range } });
    expect(response.status).toBe(400);
    expect(error).toMatchObject({ type: 'invalid_request_error', param: 'confirmation' });
    expect(await costOf('rc-0')).toMatchObject({ total_cost: '1.5' });
  });

  it('prices only what the selector covers, then everything, exactly, reporting the rows changed', async () => {
    await admin.upsertModelPricingOverride({ client: gw.client, body: { selector: 'house-model', pricing: { input_per_mtok: 1, output_per_mtok: 2.5 } }, throwOnError: true });

    const scoped = await admin.recalculatePricing({ client: gw.client, body: { ...range, selector: 'openai/house-model', confirmation: 'recalculate' } });
    expect(scoped.data).toEqual({ status: 'completed', matched: 20, recalculated: 20, with_pricing: 20, without_pricing: 0 });
    // 100 input tokens at $1 and 20 output tokens at $2.50 per million.
    expect(await costOf('rc-1')).toEqual({ input_cost: '0.0001', output_cost: '0.00005', total_cost: '0.00015', cost_source: 'model_pricing' });
    expect(await costOf('rc-0')).toMatchObject({ total_cost: '1.5' });

    const all = await admin.recalculatePricing({ client: gw.client, body: { ...range, confirmation: 'recalculate' } });
    // 60 rows priced from tokens and the audio row; 20 wrong gpt-4o-mini costs corrected.
    expect(all.data).toEqual({ status: 'completed', matched: 61, recalculated: 20, with_pricing: 60, without_pricing: 1 });
    expect(await costOf('rc-0')).toEqual({ input_cost: '0.000015', output_cost: '0.000012', total_cost: '0.000027', cost_source: 'model_pricing' });
    expect(await costOf('keep-openrouter')).toMatchObject({ total_cost: '0.9', cost_source: 'openrouter_credits' });
    expect(await costOf('keep-hit')).toMatchObject({ total_cost: '6' });
    expect(await costOf('keep-audio')).toMatchObject({ total_cost: '4' });
    expect(await costOf('keep-unknown')).toMatchObject({ total_cost: null });
    expect(await costOf('keep-outside')).toMatchObject({ total_cost: '2' });

    const again = await admin.recalculatePricing({ client: gw.client, body: { ...range, confirmation: 'recalculate' } });
    expect(again.data).toMatchObject({ matched: 61, recalculated: 0 });
  });

  it.each(['UTC', 'Asia/Kolkata', 'America/New_York'])('leaves every rollup equal to the raw rows (%s)', async (tz) => {
    const filters: Query[] = [
      {}, { user_path: '/acme' }, { user_path: '/acme/search' }, { label: 'a' }, { model: 'house-model' },
      { user_path: '/acme', label: 'b' }, { user_path: '/acme', model: 'gpt-4o-mini' }, { label: 'a', model: 'house-model' },
    ];
    for (const f of filters) {
      await expectRollupsEqualRows(tz, f);
    }
  });

  it('limits a recalculation to a user-path subtree', async () => {
    await admin.upsertModelPricingOverride({ client: gw.client, body: { selector: 'openai/gpt-4o-mini', pricing: { input_per_mtok: 10, output_per_mtok: 10 } }, throwOnError: true });
    const { data } = await admin.recalculatePricing({ client: gw.client, body: { ...range, user_path: '/acme/search', selector: 'gpt-4o-mini', confirmation: 'recalculate' } });
    // gpt-4o-mini rows are i % 3 in {0, 2}; /acme/search and below are i % 5 in {2, 3}: 16 of them.
    expect(data).toMatchObject({ matched: 16, recalculated: 16 });
    expect(await costOf('rc-2')).toMatchObject({ total_cost: '0.0012' });
    expect(await costOf('rc-0')).toMatchObject({ total_cost: '0.000027' });
    await expectRollupsEqualRows('UTC', {});
    await expectRollupsEqualRows('Asia/Kolkata', { user_path: '/acme' });
  });

  it('finds rows stored with microseconds, which a JavaScript Date would round away (rows are looked up by id and timestamp)', async () => {
    const day = { start_date: '2026-05-20', end_date: '2026-05-20' };
    for (let i = 0; i < 3; i++) gw.recorder.record(usageRow({ request_id: `micro-${i}`, timestamp: new Date('2026-05-20T10:00:00.123Z'), input_cost: '1', output_cost: '1', total_cost: '2' }));
    await gw.recorder.flush();
    // Within the same bucket, so the rollups stay as the insert made them.
    await gw.sql`update usage set "timestamp" = "timestamp" + make_interval(secs => 0.000001 * (1 + right(request_id, 1)::int)) where request_id like 'micro-%'`;
    const { data } = await admin.recalculatePricing({ client: gw.client, body: { ...day, confirmation: 'recalculate' }, throwOnError: true });
    expect(data).toMatchObject({ matched: 3, recalculated: 3 });
    for (let i = 0; i < 3; i++) expect(await costOf(`micro-${i}`)).toMatchObject({ total_cost: '0.0012' });
    const summary = await admin.getUsageSummary({ client: gw.client, query: day, throwOnError: true });
    expect([summary.data.total_requests, summary.data.total_cost]).toEqual([3, 0.0036]);
  });
});
