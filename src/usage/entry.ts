import type { ProviderConfig, TokenUsage } from '../providers/types.ts';
import { computeCost, type Cost } from './cost.ts';
import type { PriceBook } from './pricing.ts';
import type { UsageRecord } from './record.ts';
import { rowId } from './row-id.ts';
import { checkedUsage } from './usage-check.ts';

export interface Completed {
  requestId: string;
  providerId: string;
  /** The model as the provider reported it (or as requested when it reported none). */
  model: string;
  /** The model the request was sent to the provider as: its price applies when the one reported has none. */
  routedModel?: string;
  /** What the client asked for: the selector as sent, or the virtual model's name (`requested_model`). */
  requestedModel?: string;
  provider: ProviderConfig;
  endpoint: string;
  userPath: string;
  labels: string[];
  /** null when the provider reported no usage; the row then carries `caveat`. */
  usage: TokenUsage | null;
  caveat?: string;
  /** What the request took from its budgets; the row settles it. */
  reservation?: HeldReservation | null;
  /** How the request authenticated, and with which managed key. */
  authMethod?: string;
  authKeyId?: string | null;
  /** The session the request named; null when none. */
  sessionId?: string | null;
  /** Answered from the gateway's response cache: the row costs nothing, and keeps what the reply would have cost as `saved_cost`. */
  cacheType?: 'exact';
}

/** What a usage row needs of a budgets/guard Reservation: its lease id and amount (USD, and femto-USD). */
export interface HeldReservation {
  id: string;
  amount: string;
  femto: bigint;
}

/** Two caveats as one, either possibly empty. */
const and = (a: string | undefined, b: string): string => (a && b ? `${a}; ${b}` : a || b);

const unknownCost: Cost = { input_cost: null, output_cost: null, total_cost: null, cost_source: '', costs_calculation_caveat: '' };

/**
 * The cost at the price of the model the provider reported, else at the requested model's: a
 * provider answering with a model the price book does not know (a new snapshot name) must not
 * make a priced request free.
 */
function pricedCost(u: TokenUsage, c: Completed, prices: PriceBook): Cost {
  const { type, name } = c.provider;
  const reported = prices.lookup(type, name, c.model);
  const routed = !reported && c.routedModel && c.routedModel !== c.model ? prices.lookup(type, name, c.routedModel) : null;
  const cost = computeCost(u, type, c.model, reported ?? routed);
  if (!routed || cost.cost_source !== 'model_pricing') return cost;
  const note = `no price for ${type}/${c.model}: priced as the requested ${c.routedModel}`;
  return { ...cost, costs_calculation_caveat: and(note, cost.costs_calculation_caveat) };
}

/**
 * A request under a budget whose usage is unknown (the provider reported none, the client left
 * and none came, the reply was lost) costs what it reserved: the provider may have billed it in
 * full, and the budget must not take "unknown" for free.
 */
function reservedCost(reservation: HeldReservation | null | undefined): Cost {
  if (!reservation?.femto) return unknownCost;
  return { ...unknownCost, total_cost: reservation.amount, cost_source: 'budget_reservation', costs_calculation_caveat: 'usage unknown: charged its budget reservation' };
}

/** A cache hit paid no provider: its cost is known, and zero. */
const cacheHitCost: Cost = { input_cost: '0', output_cost: '0', total_cost: '0', cost_source: 'response_cache', costs_calculation_caveat: '' };

/** The usage row for a completed (or failed after spending tokens) provider call, with its cost. */
export function usageRecord(c: Completed, prices: PriceBook): UsageRecord {
  const checked = c.usage && checkedUsage(c.usage);
  const u = checked ? checked.usage : null;
  const priced = u ? pricedCost(u, c, prices) : reservedCost(c.reservation);
  const cost = c.cacheType ? cacheHitCost : priced;
  const caveat = and(and(c.caveat, checked?.caveat ?? ''), priced.costs_calculation_caveat);
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
    cache_type: c.cacheType ?? '',
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
    // A request that reserved nothing (an unpriced model) has nothing to settle.
    budget_reservation_id: c.reservation?.femto ? c.reservation.id : null,
    budget_reserved: c.reservation?.femto ? c.reservation.amount : null,
    auth_key_id: c.authKeyId ?? null,
    auth_method: c.authMethod ?? null,
    requested_model: c.requestedModel ?? null,
    session_id: c.sessionId ?? null,
    saved_cost: c.cacheType && u ? priced.total_cost : null,
  };
}
