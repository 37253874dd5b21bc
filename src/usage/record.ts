import type { Json } from '../providers/types.ts';

/**
 * One usage row as stored in the `usage` table (column names are the contract's field names).
 * Costs are exact decimal USD strings; null means the price is unknown.
 */
export interface UsageRecord {
  id: string;
  request_id: string;
  provider_id: string;
  timestamp: Date;
  model: string;
  provider: string;
  provider_name: string;
  endpoint: string;
  user_path: string;
  cache_type: '' | 'exact' | 'semantic';
  labels: string[];
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  uncached_input_tokens: number;
  cached_input_tokens: number;
  cache_write_input_tokens: number;
  reasoning_tokens: number;
  raw_data: { [key: string]: Json } | null;
  input_cost: string | null;
  output_cost: string | null;
  total_cost: string | null;
  cost_source: string;
  costs_calculation_caveat: string;
  /** The budget lease the row's request took its worst case from, if a budget applied. */
  budget_reservation_id: string | null;
  /** That worst case (USD), which leaves the lease when the row is written. */
  budget_reserved: string | null;
  /** The managed key an `api_key` request authenticated with. */
  auth_key_id: string | null;
  /** `master_key`, `api_key` or `no_key`; null on rows from before managed keys. */
  auth_method: string | null;
  /** What the client asked for (a virtual model's name, or the selector as sent); null on passthrough rows without a model and rows from before it was kept. */
  requested_model: string | null;
  /** The session the request named in a session header; null when none (and on rows from before sessions). */
  session_id: string | null;
  /** On a response-cache hit (costs 0): what the reply would have cost from the provider; null on other rows, or when its price is unknown. */
  saved_cost: string | null;
}

export const usageColumns = [
  'id', 'request_id', 'provider_id', 'timestamp', 'model', 'provider', 'provider_name', 'endpoint', 'user_path',
  'cache_type', 'labels', 'input_tokens', 'output_tokens', 'total_tokens', 'uncached_input_tokens',
  'cached_input_tokens', 'cache_write_input_tokens', 'reasoning_tokens', 'raw_data', 'input_cost', 'output_cost',
  'total_cost', 'cost_source', 'costs_calculation_caveat', 'budget_reservation_id', 'budget_reserved', 'auth_key_id',
  'auth_method', 'requested_model', 'session_id', 'saved_cost',
] as const satisfies readonly (keyof UsageRecord)[];
