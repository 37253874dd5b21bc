import { randomUUID } from 'node:crypto';
import type { UsageRecord } from '../../src/usage/record.ts';

/** A usage row with plausible defaults; tests override what they assert on. */
export function usageRow(overrides: Partial<UsageRecord> = {}): UsageRecord {
  const input = overrides.input_tokens ?? 100;
  const output = overrides.output_tokens ?? 20;
  const cached = overrides.cached_input_tokens ?? 0;
  return {
    id: randomUUID(),
    request_id: `req-${randomUUID()}`,
    provider_id: `chatcmpl-${randomUUID().slice(0, 8)}`,
    timestamp: new Date(),
    model: 'gpt-4o-mini',
    provider: 'openai',
    provider_name: 'openai',
    endpoint: '/v1/chat/completions',
    user_path: '/',
    cache_type: '',
    labels: [],
    input_tokens: input,
    output_tokens: output,
    total_tokens: input + output,
    uncached_input_tokens: input - cached,
    cached_input_tokens: cached,
    cache_write_input_tokens: 0,
    reasoning_tokens: 0,
    raw_data: null,
    input_cost: '0.000015',
    output_cost: '0.000012',
    total_cost: '0.000027',
    cost_source: 'model_pricing',
    costs_calculation_caveat: '',
    budget_reservation_id: null,
    budget_reserved: null,
    auth_key_id: null,
    auth_method: 'master_key',
    requested_model: null,
    session_id: null,
    saved_cost: null,
    ...overrides,
  };
}
