import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as api from '../../generated/sdk.gen.ts';
import { resolveDateRange } from '../../src/usage/dates.ts';
import type { UsageRecord } from '../../src/usage/record.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { usageRow } from '../support/usage-rows.ts';

// Breakdowns read rollups chosen per filter and grain (daily, subtree-keyed daily, hourly,
// 15-minute, raw). Whatever the choice, every answer must equal the same sums over raw rows.

let gw: TestGateway;
const HOUR = 3_600_000;
const now = Date.now();

const paths = ['/', '/acme', '/acme/search', '/acme/search/api', '/acme/search/api/v2', '/acme/x', '/acme-x', '/acme-x/y', '/globex/a/b'];
const models = [
  { model: 'gpt-4o-mini', provider: 'openai', provider_name: 'openai' },
  { model: 'gpt-4o-mini', provider: 'openai', provider_name: 'openai-east' },
  { model: 'claude-sonnet-4-5', provider: 'anthropic', provider_name: 'anthropic' },
  { model: 'gemini-2.5-flash', provider: 'gemini', provider_name: 'gemini' },
];
const labelSets = [[], ['a'], ['b'], ['a', 'b'], ['a', 'c', 'b']];

/** A deterministic spread: every path, model and label set, over 10 days up to a minute ago. */
function rows(): UsageRecord[] {
  let seed = 7;
  const next = (n: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    // The low bits of this generator repeat with short periods: take the high ones.
    return Math.floor(seed / 2 ** 16) % n;
  };
  return Array.from({ length: 600 }, (_, i) => {
    const input = 10 + next(500);
    const output = next(200);
    const priced = next(7) !== 0;
    return usageRow({
      request_id: `eq-${i}`,
      // Half the rows in the last day, where the edges of each zone fall.
      timestamp: new Date(now - 60_000 - (i % 2 ? next(24 * HOUR) : next(10 * 24 * HOUR))),
      user_path: paths[next(paths.length)]!,
      ...models[next(models.length)]!,
      labels: labelSets[next(labelSets.length)]!,
      cache_type: next(10) === 0 ? 'exact' : '',
      input_tokens: input,
      uncached_input_tokens: input,
      output_tokens: output,
      total_tokens: input + output,
      input_cost: priced ? `0.0000${next(90) + 10}` : null,
      output_cost: priced ? `0.00000${next(9) + 1}` : null,
      total_cost: priced ? `0.0001${next(90) + 10}` : null,
      session_id: next(3) === 0 ? `s-${next(3)}` : null,
    });
  });
}

beforeAll(async () => {
  gw = await startTestGateway();
  const all = rows();
  // Four INSERT statements: the trigger folds later batches into rollup rows of earlier ones.
  for (let i = 0; i < all.length; i += 150) {
    for (const r of all.slice(i, i + 150)) gw.recorder.record(r);
    await gw.recorder.flush();
  }
});

afterAll(() => gw.stop());

interface Filters {
  user_path?: string;
  model?: string;
  provider?: string;
  label?: string;
  session_id?: string;
  cache_mode?: 'all' | 'cached' | 'uncached';
}

/** The same sums over raw rows, grouped by `by` (an SQL expression), with the API's filter semantics. */
async function expected(by: string | null, f: Filters, tz: string, days: number) {
  const s = gw.sql;
  const range = resolveDateRange({ days }, tz, Date.now());
  const label = by === 'label';
  const path = f.user_path;
  const rows = await s.unsafe(
    `select ${by ?? `'all'`} as key, count(*)::int as requests, sum(input_tokens)::int as input_tokens,
            sum(output_tokens)::int as output_tokens, sum(total_cost)::text as total_cost,
            count(*) filter (where total_cost is null and cache_type = '')::int as unknown_cost_requests
       from usage ${label ? 'cross join lateral unnest(labels) as label' : ''}
      where "timestamp" >= $1 and "timestamp" < $2
        and ($3::text is null or user_path = $3 or user_path like $3 || '/%' or $3 = '/')
        and ($4::text is null or model = $4)
        and ($5::text is null or provider = $5 or provider_name = $5)
        and ($6::text is null or ${label ? 'label = $6' : '$6 = any(labels)'})
        and (case $7 when 'all' then true when 'cached' then cache_type <> '' else cache_type = '' end)
        and ($8::text is null or session_id = $8)
      group by 1 order by 1`,
    [new Date(range.start), new Date(range.end), path ?? null, f.model ?? null, f.provider ?? null, f.label ?? null, f.cache_mode ?? 'uncached', f.session_id ?? null],
  );
  return sorted(
    rows.map((r) => ({
      key: r.key as string,
      requests: r.requests as number,
      input_tokens: r.input_tokens as number,
      output_tokens: r.output_tokens as number,
      total_cost: r.total_cost === null ? null : Number(r.total_cost),
      unknown_cost_requests: r.unknown_cost_requests as number,
    })),
  );
}

const sorted = <T extends { key: string }>(list: T[]) => list.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

type Sums = { requests: number; input_tokens: number; output_tokens: number; total_cost?: number | null; unknown_cost_requests?: number };
const sums = (key: string, r: Sums) => ({ key, requests: r.requests, input_tokens: r.input_tokens, output_tokens: r.output_tokens, total_cost: r.total_cost ?? null });
/** The same with the count of unknown costs, which the summary, models and user paths answer. */
const counted = (key: string, r: Sums) => ({ ...sums(key, r), unknown_cost_requests: r.unknown_cost_requests });
const uncounted = (list: Awaited<ReturnType<typeof expected>>) => list.map(({ unknown_cost_requests: _, ...rest }) => rest);

const filterSets: Filters[] = [
  {},
  { user_path: '/acme' },
  { user_path: '/acme/search' },
  { user_path: '/acme/search/api/v2' },
  { user_path: '/acme-x' },
  { provider: 'anthropic' },
  { provider: 'openai-east' },
  { model: 'gpt-4o-mini' },
  { label: 'a' },
  { user_path: '/acme', label: 'b' },
  { user_path: '/acme', provider: 'openai' },
  { user_path: '/acme/search', model: 'claude-sonnet-4-5', cache_mode: 'all' },
  { cache_mode: 'cached' },
  { session_id: 's-1' },
  { session_id: 's-2', user_path: '/acme', label: 'a' },
];
const zones = ['UTC', 'Europe/Warsaw', 'Asia/Kolkata', 'America/New_York'];

describe.each(zones)('in %s', (tz) => {
  const headers = { 'X-GoModel-Timezone': tz };

  it.each(filterSets.flatMap((f) => [1, 7].map((days) => ({ ...f, days }))))('answers %o as the raw rows do', async ({ days, ...f }) => {
    const query = { ...f, days };
    const [summary, byModel, byPath, byLabel, byDay] = await Promise.all([
      api.getUsageSummary({ client: gw.client, query, headers, throwOnError: true }),
      api.getModelUsage({ client: gw.client, query, headers, throwOnError: true }),
      api.getUserPathUsage({ client: gw.client, query, headers, throwOnError: true }),
      api.getLabelUsage({ client: gw.client, query, headers, throwOnError: true }),
      api.getDailyUsage({ client: gw.client, query, headers, throwOnError: true }),
    ]);
    const [wantTotal, wantModels, wantPaths, wantLabels, wantDays] = await Promise.all([
      expected(null, f, tz, days),
      expected(`model || ' ' || provider || ' ' || provider_name`, f, tz, days),
      expected('user_path', f, tz, days),
      expected('label', f, tz, days),
      expected(`to_char("timestamp" at time zone '${tz}', 'YYYY-MM-DD')`, f, tz, days),
    ]);
    const t = summary.data!;
    const total = {
      requests: t.total_requests,
      input_tokens: t.total_input_tokens,
      output_tokens: t.total_output_tokens,
      total_cost: t.total_cost,
      unknown_cost_requests: t.unknown_cost_requests,
    };
    expect(t.total_requests ? [counted('all', total as Sums)] : []).toEqual(wantTotal);
    expect(sorted(byModel.data!.map((r) => counted(`${r.model} ${r.provider} ${r.provider_name}`, r as Sums)))).toEqual(wantModels);
    expect(sorted(byPath.data!.map((r) => counted(r.user_path!, r as Sums)))).toEqual(wantPaths);
    expect(sorted(byLabel.data!.map((r) => sums(r.label!, r as Sums)))).toEqual(uncounted(wantLabels));
    expect(sorted(byDay.data!.map((r) => sums(r.date!, r as Sums)))).toEqual(uncounted(wantDays));
    // The data must exercise the case: most filter sets match rows in a day.
    if (days === 7 && !f.cache_mode) expect(wantTotal[0]?.requests ?? 0).toBeGreaterThan(0);
    if (days === 7 && Object.keys(f).length === 0) expect(wantTotal[0]!.unknown_cost_requests).toBeGreaterThan(0);
  });
});
