import type postgres from 'postgres';
import type { PendingQuery, Row } from 'postgres';
import type { Sql } from '../db/sql.ts';
import type { Json, ProviderType, TokenUsage } from '../providers/types.ts';
import { escapeLike } from '../user-path.ts';
import { computeCost } from './cost.ts';
import type { Selector } from './price-override-store.ts';
import type { PriceBook } from './pricing.ts';
import { belowCubes, cubes, dailyCubes } from './queries.ts';

type Fragment = PendingQuery<Row[]>;
type Tx = postgres.TransactionSql;

export interface RecalculationScope {
  start: Date;
  end: Date;
  /** A user-path subtree; undefined for every path. */
  userPath?: string;
  selector?: Selector;
}

export interface RecalculationResult {
  matched: number;
  recalculated: number;
  with_pricing: number;
  without_pricing: number;
}

const BATCH = 1000;
/** Serialises recalculations: two over the same rows would both add their deltas to the rollups. */
const LOCK_KEY = 0x676d_7072;

/**
 * Raw usage keys of parts priced apart (audio, image and video tokens, one-hour cache writes, web
 * searches) that a row keeps only as counts in `raw_data`: the row cannot be priced again exactly
 * from its columns, so it keeps its cost.
 */
const separatelyPriced = /^(prompt|completion)_(audio|image|video)_tokens$|^(prompt|tool_use_prompt|cache|candidates)_(audio|image|video)_token_count$|^cache_creation_ephemeral_1h_input_tokens$|web_search/;

interface StoredRow {
  id: string;
  timestamp: Date;
  /** The exact stored instant as text (microseconds, which a Date drops, and so would a timestamptz parameter): the row's key with its id. */
  at: string;
  model: string;
  provider: ProviderType;
  provider_name: string;
  input_tokens: string;
  output_tokens: string;
  total_tokens: string;
  cached_input_tokens: string;
  cache_write_input_tokens: string;
  reasoning_tokens: string;
  raw_data: Record<string, Json> | null;
  input_cost: string | null;
  output_cost: string | null;
  total_cost: string | null;
}

/** A stored row's usage as the provider reported it; null when parts of it were priced apart. */
function usageOf(r: StoredRow): TokenUsage | null {
  const raw = r.raw_data ?? {};
  for (const key in raw) {
    const v = raw[key];
    if (separatelyPriced.test(key) && typeof v === 'number' && v > 0) return null;
  }
  return {
    inputTokens: Number(r.input_tokens),
    outputTokens: Number(r.output_tokens),
    totalTokens: Number(r.total_tokens),
    cachedInputTokens: Number(r.cached_input_tokens),
    cacheWriteInputTokens: Number(r.cache_write_input_tokens),
    reasoningTokens: Number(r.reasoning_tokens),
    raw,
  };
}

/** Every rollup table holding costs, with the SQL of each dimension over the changed rows `c`. */
function rollupTargets(s: Tx): { table: string; bucket: Fragment; dims: [column: string, source: Fragment][] }[] {
  const day = s`date_trunc('day', c."timestamp", 'UTC')`;
  const hour = s`date_trunc('hour', c."timestamp", 'UTC')`;
  const quarter = s`date_bin('15 minutes', c."timestamp", timestamptz '2000-01-01 00:00:00+00')`;
  const plain = (dims: readonly string[]): [string, Fragment][] => dims.map((d) => [d, d === 'label' ? s`l.label` : s`c.${s(d)}`]);
  const targets: { table: string; bucket: Fragment; dims: [string, Fragment][] }[] = [];
  for (const c of cubes) {
    targets.push({ table: `usage_${c.name}_daily`, bucket: day, dims: plain(c.dims) }, { table: `usage_${c.name}_hourly`, bucket: hour, dims: plain(c.dims) });
    if (c.quarterHour) targets.push({ table: `usage_${c.name}_quarter`, bucket: quarter, dims: plain(c.dims) });
  }
  for (const c of dailyCubes) targets.push({ table: `usage_${c.name}_daily`, bucket: day, dims: plain(c.dims) });
  for (const c of belowCubes) targets.push({ table: `usage_${c.name}_daily`, bucket: day, dims: [['path', s`a.path`], ...plain(c.dims)] });
  targets.push({ table: 'usage_subtree_rollup', bucket: quarter, dims: [['path', s`p.path`]] });
  return targets;
}

/**
 * Prices stored rows again at the prices in force now (the admin API's overrides included) and
 * writes the costs that changed, with the rollups moved by the same exact amounts, in one
 * transaction. Only rows priced from token counts are candidates (cost source `model_pricing`, or
 * none because the price was unknown): costs a provider reported (OpenRouter credits, xAI ticks),
 * budget reservations charged for unknown usage and local-cache hits are kept. A candidate whose
 * model has no price now, or whose usage had parts priced apart, keeps its cost (`without_pricing`).
 * A cost therefore only goes from unknown to known or from one amount to another, never back to
 * unknown, which is what lets the rollups (sums where NULL means "no row known") move by deltas.
 */
export async function recalculatePricing(sql: Sql, prices: PriceBook, scope: RecalculationScope): Promise<RecalculationResult> {
  const result: RecalculationResult = { matched: 0, recalculated: 0, with_pricing: 0, without_pricing: 0 };
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${LOCK_KEY})`;
    const targets = rollupTargets(tx);
    const where = filters(tx, scope);
    let after: { t: string; id: string } | null = null;
    for (;;) {
      const rows: StoredRow[] = await tx<StoredRow[]>`
        select id, "timestamp", "timestamp"::text as at, model, provider, provider_name, input_tokens, output_tokens, total_tokens, cached_input_tokens,
               cache_write_input_tokens, reasoning_tokens, raw_data, input_cost::text, output_cost::text, total_cost::text
          from usage where ${where} ${after ? tx`and ("timestamp", id) > (${after.t}::text::timestamptz, ${after.id}::uuid)` : tx``}
         order by "timestamp", id limit ${BATCH}`;
      if (rows.length === 0) break;
      const last = rows[rows.length - 1]!;
      after = { t: last.at, id: last.id };
      result.matched += rows.length;
      const ids: string[] = [];
      const ats: string[] = [];
      const inputs: string[] = [];
      const outputs: string[] = [];
      const totals: string[] = [];
      const caveats: string[] = [];
      for (const r of rows) {
        const usage = usageOf(r);
        const price = usage && prices.lookup(r.provider, r.provider_name, r.model, r.timestamp);
        if (!usage || !price) continue;
        const cost = computeCost(usage, r.provider, r.model, price);
        if (cost.cost_source !== 'model_pricing') continue;
        result.with_pricing++;
        ids.push(r.id);
        ats.push(r.at);
        inputs.push(cost.input_cost!);
        outputs.push(cost.output_cost!);
        totals.push(cost.total_cost!);
        caveats.push(cost.costs_calculation_caveat);
      }
      if (ids.length) result.recalculated += await apply(tx, targets, ids, ats, inputs, outputs, totals, caveats);
    }
  });
  result.without_pricing = result.matched - result.with_pricing;
  return result;
}

/** The candidate rows of the scope. */
function filters(s: Tx, scope: RecalculationScope): Fragment {
  const sel = scope.selector;
  const path = scope.userPath;
  return s`"timestamp" >= ${scope.start} and "timestamp" < ${scope.end} and cache_type = ''
    and (cost_source = 'model_pricing' or (cost_source = '' and costs_calculation_caveat like 'no price for %'))
    ${path !== undefined && path !== '/' ? s`and (user_path = ${path} or user_path like ${`${escapeLike(path)}/%`})` : s``}
    ${sel?.provider ? s`and (provider = ${sel.provider} or provider_name = ${sel.provider})` : s``}
    ${sel?.model ? s`and model = ${sel.model}` : s``}`;
}

/**
 * Writes the new costs of rows whose costs differ and adds each changed row's differences to every
 * rollup group it counts in, in one statement; returns how many rows changed. A row of unknown cost
 * that gets one leaves the count of unpriced provider calls (every candidate is a provider call).
 */
async function apply(
  s: Tx,
  targets: ReturnType<typeof rollupTargets>,
  ids: string[],
  ats: string[],
  inputs: string[],
  outputs: string[],
  totals: string[],
  caveats: string[],
): Promise<number> {
  const moves = targets.map((t, i) => {
    const keys = t.dims.map(([column]) => column);
    const explode = s`${t.dims.some(([c]) => c === 'label') ? s`cross join lateral unnest(c.labels) as l(label)` : s``}
      ${t.table === 'usage_subtree_rollup' ? s`cross join lateral unnest(gm_path_prefixes(c.user_path)) as p(path)` : s``}
      ${t.dims.some(([c]) => c === 'path') && t.table !== 'usage_subtree_rollup' ? s`cross join lateral unnest(gm_path_ancestors(c.user_path)) as a(path)` : s``}`;
    const selectDims = t.dims.reduce((acc, [column, source]) => s`${acc}, ${source} as ${s(column)}`, s``);
    const match = keys.reduce((acc, k) => s`${acc} and r.${s(k)} = g.${s(k)}`, s``);
    return s`, ${s(`m${i}`)} as (
      update ${s(t.table)} r set input_cost = gm_add_cost(r.input_cost, g.d_input), output_cost = gm_add_cost(r.output_cost, g.d_output),
        total_cost = gm_add_cost(r.total_cost, g.d_total), unpriced_requests = r.unpriced_requests + g.d_unpriced
      from (select ${t.bucket} as bucket, c.cache_type ${selectDims},
                   sum(c.d_input) as d_input, sum(c.d_output) as d_output, sum(c.d_total) as d_total, sum(c.d_unpriced) as d_unpriced
              from changed c ${explode} group by ${s.unsafe(Array.from({ length: keys.length + 2 }, (_, k) => k + 1).join(', '))}) g
      where r.bucket = g.bucket and r.cache_type = g.cache_type ${match})`;
  });
  const [row] = await s`
    with v as (
      select * from unnest(${ids}::uuid[], ${ats}::text[]::timestamptz[], ${inputs}::numeric[], ${outputs}::numeric[], ${totals}::numeric[], ${caveats}::text[])
        as v(id, "timestamp", input_cost, output_cost, total_cost, caveat)
    ), old as (
      -- By the whole key, so that each row is looked up in its month's partition only.
      select u.id, u."timestamp", u.input_cost, u.output_cost, u.total_cost from usage u join v using (id, "timestamp")
    ), changed as (
      update usage u set input_cost = v.input_cost, output_cost = v.output_cost, total_cost = v.total_cost,
             cost_source = 'model_pricing', costs_calculation_caveat = v.caveat
        from v join old o using (id, "timestamp")
       where u.id = v.id and u."timestamp" = v."timestamp"
         and (o.input_cost is distinct from v.input_cost or o.output_cost is distinct from v.output_cost or o.total_cost is distinct from v.total_cost)
      returning u."timestamp", u.cache_type, u.user_path, u.labels, u.model, u.provider, u.provider_name,
                v.input_cost - coalesce(o.input_cost, 0) as d_input, v.output_cost - coalesce(o.output_cost, 0) as d_output,
                v.total_cost - coalesce(o.total_cost, 0) as d_total, (v.total_cost is null)::int - (o.total_cost is null)::int as d_unpriced
    ) ${moves.reduce((acc, m) => s`${acc} ${m}`, s``)}
    select count(*)::int as n from changed`;
  return row!.n as number;
}
