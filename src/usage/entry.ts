import type { ProviderConfig, TokenUsage } from '../providers/types.ts';
import { computeCost } from './cost.ts';
import type { PriceBook } from './pricing.ts';
import type { UsageRecord } from './record.ts';
import { rowId } from './row-id.ts';

export interface Completed {
  requestId: string;
  providerId: string;
  /** The model as the provider reported it (or as requested when it reported none). */
  model: string;
  provider: ProviderConfig;
  endpoint: string;
  userPath: string;
  labels: string[];
  /** null when the provider reported no usage; the row then carries `caveat`. */
  usage: TokenUsage | null;
  caveat?: string;
  /** What the request took from its budgets (a budgets/guard Reservation: lease id, USD); the row settles it. */
  reservation?: { id: string; amount: string } | null;
}

/** The usage row for a completed (or failed after spending tokens) provider call, with its cost. */
export function usageRecord(c: Completed, prices: PriceBook): UsageRecord {
  const u = c.usage;
  const cost = u
    ? computeCost(u, c.provider.type, c.model, prices.lookup(c.provider.type, c.provider.name, c.model))
    : { input_cost: null, output_cost: null, total_cost: null, cost_source: '', costs_calculation_caveat: '' };
  const caveat = c.caveat && cost.costs_calculation_caveat ? `${c.caveat}; ${cost.costs_calculation_caveat}` : c.caveat || cost.costs_calculation_caveat;
  const now = Date.now();
  return {
    id: rowId(now),
    request_id: c.requestId,
    provider_id: c.providerId,
    timestamp: new Date(now),
    model: c.model,
    provider: c.provider.type,
    provider_name: c.provider.name,
    endpoint: c.endpoint,
    user_path: c.userPath,
    cache_type: '',
    labels: c.labels,
    input_tokens: u?.inputTokens ?? 0,
    output_tokens: u?.outputTokens ?? 0,
    total_tokens: u?.totalTokens ?? 0,
    uncached_input_tokens: u ? Math.max(0, u.inputTokens - u.cachedInputTokens - u.cacheWriteInputTokens) : 0,
    cached_input_tokens: u?.cachedInputTokens ?? 0,
    cache_write_input_tokens: u?.cacheWriteInputTokens ?? 0,
    reasoning_tokens: u?.reasoningTokens ?? 0,
    raw_data: u && Object.keys(u.raw).length ? u.raw : null,
    input_cost: cost.input_cost,
    output_cost: cost.output_cost,
    total_cost: cost.total_cost,
    cost_source: cost.cost_source,
    costs_calculation_caveat: caveat,
    budget_reservation_id: c.reservation?.id ?? null,
    budget_reserved: c.reservation?.amount ?? null,
  };
}
