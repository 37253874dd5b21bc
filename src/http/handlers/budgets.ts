import type { BudgetGuard } from '../../budgets/guard.ts';
import { periodLabel, periodRatio, type BudgetSettings } from '../../budgets/periods.ts';
import type { BudgetState, BudgetStore } from '../../budgets/store.ts';
import { periodSeconds } from '../../config.ts';
import { GatewayError, invalidRequest, notFound } from '../../errors.ts';
import { addDecimals, formatScaled, parseDecimal } from '../../usage/decimal.ts';
import { resolveDateRange } from '../../usage/dates.ts';
import type { RateLimitStore } from '../../ratelimits/store.ts';
import type { UsageQueries } from '../../usage/queries.ts';
import type { Attribution } from '../attribution.ts';
import type { Caller } from '../caller.ts';
import type { Handler, HandlerContext } from '../context.ts';
import { periodOf as periodOfKey, requireResetConfirmation, userPathOf } from './admin-input.ts';
import { appliesTo, selfServiceStatus } from './rate-limits.ts';

export interface BudgetDeps {
  store: BudgetStore;
  /** null when BUDGETS_ENABLED=false. */
  guard: BudgetGuard | null;
  queries: UsageQueries;
  attribute: (headers: HandlerContext['headers'], caller?: Caller) => Attribution;
  /** null when RATE_LIMITS_ENABLED=false. */
  rateLimits: RateLimitStore | null;
  now?: () => number;
}

const unavailable = () => new GatewayError('invalid_request_error', 503, 'budgets feature is unavailable', { code: 'feature_unavailable' });

const periodOf = (period: unknown, seconds: unknown, where: string) => periodOfKey(period, seconds, where, periodSeconds, 'hourly, daily, weekly or monthly');

function amountOf(value: unknown): string {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw invalidRequest('amount must be a number of USD greater than 0', 'amount');
  if (value > 1e12) throw invalidRequest('amount must be at most 1000000000000', 'amount');
  return String(value);
}

const iso = (d: Date | null) => d?.toISOString();

/** Exact `amount - spent` as a number. */
function minus(amount: string, spent: string | null): number {
  const a = parseDecimal(amount);
  const s = parseDecimal(spent ?? '0');
  return Number(formatScaled(addDecimals(a, { units: -s.units, scale: s.scale }).units, Math.max(a.scale, s.scale)));
}

function status(state: BudgetState, now: number) {
  const { record, period, spent } = state;
  const amount = Number(record.amount);
  const spentNumber = Number(spent ?? 0);
  return {
    user_path: record.user_path,
    period_seconds: record.period_seconds,
    period_label: periodLabel(record.period_seconds),
    amount,
    source: record.source,
    ...(record.last_reset_at ? { last_reset_at: iso(record.last_reset_at) } : {}),
    created_at: iso(record.created_at),
    updated_at: iso(record.updated_at),
    period_start: new Date(period.start).toISOString(),
    period_end: new Date(period.end).toISOString(),
    spent: spentNumber,
    reserved: Number(record.reserved),
    has_usage: spent !== null,
    remaining: minus(record.amount, spent),
    usage_ratio: spentNumber / amount,
    period_ratio: periodRatio(period, now),
  };
}

function settingsBody(s: BudgetSettings & { updated_at: Date }) {
  return { ...s, updated_at: s.updated_at.toISOString() };
}

export function budgetHandlers(deps: BudgetDeps) {
  const { store, guard } = deps;
  const now = deps.now ?? Date.now;

  async function states(at: number) {
    return store.states(await store.settings(), at);
  }

  async function list() {
    const at = now();
    return { body: { budgets: (await states(at)).map((s) => status(s, at)), server_time: new Date(at).toISOString() } };
  }

  /** Runs an admin budget operation, refreshing this replica's view after a change. */
  const admin =
    (run: (ctx: HandlerContext) => Promise<{ body: unknown }>, changes = true): Handler =>
    async (ctx) => {
      if (!guard) throw unavailable();
      const reply = await run(ctx);
      if (changes) await guard.refresh();
      return reply;
    };

  const listBudgets = admin(list, false);

  const upsertBudget = admin(async (ctx) => {
    const b = ctx.body as { user_path?: unknown; budget_key: { period?: unknown; period_seconds?: unknown }; amount: unknown };
    await store.upsert(userPathOf(b.user_path), periodOf(b.budget_key.period, b.budget_key.period_seconds, 'budget_key'), amountOf(b.amount), 'manual');
    return list();
  });

  const deleteBudget = admin(async (ctx) => {
    const b = ctx.body as { user_path?: unknown; budget_key: { period?: unknown; period_seconds?: unknown } };
    const path = userPathOf(b.user_path);
    const seconds = periodOf(b.budget_key.period, b.budget_key.period_seconds, 'budget_key');
    if (!(await store.remove(path, seconds))) throw notFound(`no ${periodLabel(seconds)} budget for ${path}`, 'budget_not_found');
    return list();
  });

  const getBudgetSettings = admin(async () => ({ body: settingsBody(await store.settings()) }), false);

  const updateBudgetSettings = admin(async (ctx) => {
    const { updated_at: _, ...patch } = ctx.body as Partial<BudgetSettings> & { updated_at?: string };
    return { body: settingsBody(await store.updateSettings(patch)) };
  });

  const resetBudget = admin(async (ctx) => {
    const b = ctx.body as { user_path?: unknown; period?: unknown; period_seconds?: unknown };
    const path = userPathOf(b.user_path);
    const seconds = periodOf(b.period, b.period_seconds, '');
    if (!(await store.reset({ userPath: path, periodSeconds: seconds }))) throw notFound(`no ${periodLabel(seconds)} budget for ${path}`, 'budget_not_found');
    return list();
  });

  const resetAllBudgets = admin(async (ctx) => {
    requireResetConfirmation(ctx.body);
    await store.reset();
    return { body: { status: 'ok' } };
  });

  /** Self-service: usage of the caller's path and the budgets that apply to it. */
  const getUsageStatus: Handler = async (ctx) => {
    const at = now();
    const { userPath, authKeyId } = deps.attribute(ctx.headers, ctx.caller);
    const range = resolveDateRange(ctx.query as { days?: number; start_date?: string; end_date?: string }, 'UTC', at);
    try {
      const [totals, all, limits] = await Promise.all([
        deps.queries.summary(range, { userPath, cacheMode: 'uncached' }),
        guard ? states(at) : [],
        deps.rateLimits ? deps.rateLimits.states(at) : [],
      ]);
      const covering = all.filter((s) => s.record.user_path === '/' || userPath === s.record.user_path || userPath.startsWith(`${s.record.user_path}/`));
      return {
        body: {
          user_path: userPath,
          server_time: new Date(at).toISOString(),
          usage: {
            start_date: range.startDate,
            end_date: range.endDate,
            total_requests: totals.requests,
            total_input_tokens: totals.input_tokens,
            total_output_tokens: totals.output_tokens,
            total_tokens: totals.total_tokens,
            uncached_input_tokens: totals.uncached_input_tokens,
            cached_input_tokens: totals.cached_input_tokens,
            cache_write_input_tokens: totals.cache_write_input_tokens,
            total_input_cost: totals.input_cost,
            total_output_cost: totals.output_cost,
            total_cost: totals.total_cost,
          },
          budgets: covering.map((s) => {
            const full = status(s, at);
            return {
              user_path: full.user_path,
              period_seconds: full.period_seconds,
              period_label: full.period_label,
              amount: full.amount,
              spent: full.spent,
              remaining: full.remaining,
              usage_ratio: full.usage_ratio,
              period_start: full.period_start,
              period_end: full.period_end,
              resets_in_seconds: Math.max(0, Math.ceil((s.period.end - at) / 1000)),
              exceeded: full.spent >= full.amount,
            };
          }),
          rate_limits: limits.filter((s) => appliesTo(s, userPath, authKeyId)).map((s) => selfServiceStatus(s, at)),
        },
      };
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw new GatewayError('provider_error', 503, 'usage status is unavailable right now', { code: 'usage_status_failed', cause: err });
    }
  };

  return { listBudgets, upsertBudget, deleteBudget, getBudgetSettings, updateBudgetSettings, resetBudget, resetAllBudgets, getUsageStatus };
}
