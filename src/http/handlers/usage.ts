import type { Row } from 'postgres';
import type {
  GetDailyUsageData,
  GetSessionUsageData,
  GetTokenThroughputData,
  GetUsageLogData,
  GetUsageSummaryData,
} from '../../../generated/types.gen.ts';
import { toInt, toMoney } from '../../db/sql.ts';
import { invalidRequest } from '../../errors.ts';
import { resolveDateRange, resolveTimeZone } from '../../usage/dates.ts';
import { rowInputSplit } from '../../usage/input-split.ts';
import type { Totals, UsageFilters, UsageQueries } from '../../usage/queries.ts';
import { normalizeUserPath } from '../../user-path.ts';
import { header, type Handler, type HandlerContext } from '../context.ts';

type FilterQuery = NonNullable<GetUsageSummaryData['query']>;

const present = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function userPathFilter(value: unknown): string | undefined {
  const raw = present(value);
  if (raw === undefined) return undefined;
  try {
    return normalizeUserPath(raw) ?? undefined;
  } catch (err) {
    throw invalidRequest(`invalid user_path: ${(err as Error).message}`, 'user_path');
  }
}

export function request(ctx: HandlerContext, now: number) {
  const q = ctx.query as FilterQuery;
  const tz = resolveTimeZone(header(ctx, 'x-gomodel-timezone'));
  const range = resolveDateRange(q, tz, now);
  const filters: UsageFilters = {
    model: present(q.model),
    provider: present(q.provider),
    label: present(q.label),
    userPath: userPathFilter(q.user_path),
    authKeyId: present(q.auth_key_id)?.toLowerCase(),
    sessionId: present(q.session_id),
    cacheMode: q.cache_mode ?? 'uncached',
  };
  return { tz, range, filters };
}

/** The input tokens by how the provider's prompt cache treated them. */
const inputSplit = (t: Totals) => ({
  uncached_input_tokens: t.uncached_input_tokens,
  cached_input_tokens: t.cached_input_tokens,
  cache_write_input_tokens: t.cache_write_input_tokens,
});

/** Costs in breakdowns: null when no row had a known price. */
const breakdownCosts = (t: Totals) => ({ input_cost: t.input_cost, output_cost: t.output_cost, total_cost: t.total_cost });

/** The seed types some costs as plain numbers: an unknown cost is left out instead of being null or 0. */
const knownCosts = (c: { input_cost: number | null; output_cost: number | null; total_cost: number | null }) => ({
  ...(c.input_cost !== null ? { input_cost: c.input_cost } : {}),
  ...(c.output_cost !== null ? { output_cost: c.output_cost } : {}),
  ...(c.total_cost !== null ? { total_cost: c.total_cost } : {}),
});

function logEntry(r: Row) {
  return {
    id: r.id as string,
    request_id: r.request_id as string,
    provider_id: r.provider_id as string,
    timestamp: (r.timestamp as Date).toISOString(),
    model: r.model as string,
    provider: r.provider as string,
    provider_name: r.provider_name as string,
    endpoint: r.endpoint as string,
    user_path: r.user_path as string,
    cache_type: r.cache_type as string,
    input_tokens: toInt(r.input_tokens),
    output_tokens: toInt(r.output_tokens),
    total_tokens: toInt(r.total_tokens),
    ...rowInputSplit(r),
    ...knownCosts({ input_cost: toMoney(r.input_cost), output_cost: toMoney(r.output_cost), total_cost: toMoney(r.total_cost) }),
    cost_source: r.cost_source as string,
    costs_calculation_caveat: r.costs_calculation_caveat as string,
    auth_key_id: (r.auth_key_id as string | null) ?? null,
    auth_method: (r.auth_method as string | null) ?? null,
    requested_model: (r.requested_model as string | null) ?? null,
    labels: r.labels as string[],
    session_id: (r.session_id as string | null) ?? null,
    ...(r.raw_data ? { raw_data: r.raw_data as Record<string, unknown> } : {}),
  };
}

export function usageHandlers(queries: UsageQueries, now: () => number = Date.now) {
  const getUsageSummary: Handler = async (ctx) => {
    const { range, filters } = request(ctx, now());
    const t = await queries.summary(range, filters);
    return {
      body: {
        total_requests: t.requests,
        total_input_tokens: t.input_tokens,
        total_output_tokens: t.output_tokens,
        total_tokens: t.total_tokens,
        uncached_input_tokens: t.uncached_input_tokens,
        cached_input_tokens: t.cached_input_tokens,
        cache_write_input_tokens: t.cache_write_input_tokens,
        total_input_cost: t.input_cost,
        total_output_cost: t.output_cost,
        total_cost: t.total_cost,
        unknown_cost_requests: t.unknown_cost_requests,
      },
    };
  };

  const getDailyUsage: Handler = async (ctx) => {
    const { tz, range, filters } = request(ctx, now());
    const q = ctx.query as NonNullable<GetDailyUsageData['query']>;
    const rows = await queries.periods(range, filters, q.interval ?? 'daily', tz);
    return {
      body: rows.map((r) => ({
        date: r.date,
        requests: r.requests,
        input_tokens: r.input_tokens,
        output_tokens: r.output_tokens,
        total_tokens: r.total_tokens,
        ...inputSplit(r),
        ...knownCosts(r),
      })),
    };
  };

  const getModelUsage: Handler = async (ctx) => {
    const { range, filters } = request(ctx, now());
    const rows = await queries.byModel(range, filters);
    return {
      body: rows.map((r) => ({
        model: r.model,
        provider: r.provider,
        provider_name: r.provider_name,
        requests: r.requests,
        input_tokens: r.input_tokens,
        output_tokens: r.output_tokens,
        total_tokens: r.total_tokens,
        ...breakdownCosts(r),
        unknown_cost_requests: r.unknown_cost_requests,
      })),
    };
  };

  const getUserPathUsage: Handler = async (ctx) => {
    const { range, filters } = request(ctx, now());
    const rows = await queries.byUserPath(range, filters);
    return {
      body: rows.map((r) => ({
        user_path: r.user_path,
        requests: r.requests,
        input_tokens: r.input_tokens,
        output_tokens: r.output_tokens,
        total_tokens: r.total_tokens,
        ...breakdownCosts(r),
        unknown_cost_requests: r.unknown_cost_requests,
      })),
    };
  };

  const getLabelUsage: Handler = async (ctx) => {
    const { range, filters } = request(ctx, now());
    const rows = await queries.byLabel(range, filters);
    return {
      body: rows.map((r) => ({
        label: r.label,
        requests: r.requests,
        input_tokens: r.input_tokens,
        output_tokens: r.output_tokens,
        total_tokens: r.total_tokens,
        ...inputSplit(r),
        ...breakdownCosts(r),
      })),
    };
  };

  const getUsageLog: Handler = async (ctx) => {
    const { range, filters } = request(ctx, now());
    const q = ctx.query as NonNullable<GetUsageLogData['query']>;
    const limit = q.limit ?? 50;
    const offset = q.offset ?? 0;
    const { rows, total } = await queries.log(range, filters, present(q.search), limit, offset);
    return { body: { entries: rows.map(logEntry), total, limit, offset } };
  };

  const getSessionUsage: Handler = async (ctx) => {
    const { range, filters } = request(ctx, now());
    const q = ctx.query as NonNullable<GetSessionUsageData['query']>;
    const limit = q.limit ?? 50;
    const offset = q.offset ?? 0;
    const { entries, total } = await queries.sessions(range, filters, limit, offset);
    return { body: { entries, total, limit, offset } };
  };

  const getTokenThroughput: Handler = async (ctx) => {
    const q = ctx.query as GetTokenThroughputData['query'];
    const tz = resolveTimeZone(header(ctx, 'x-gomodel-timezone'));
    return { body: await queries.throughput(q.granularity, tz, now()) };
  };

  return { getUsageSummary, getDailyUsage, getModelUsage, getUserPathUsage, getLabelUsage, getUsageLog, getSessionUsage, getTokenThroughput };
}
