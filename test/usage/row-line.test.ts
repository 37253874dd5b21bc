import { expect, it } from 'vitest';
import { usageColumns, type UsageRecord } from '../../src/usage/record.ts';
import { rowLine, journaledRowLine } from '../../src/usage/row-line.ts';
import { usageRow } from '../support/usage-rows.ts';

/** A row whose every column holds a value no other column holds. */
const row: UsageRecord = {
  id: '0190b2c4-0000-7000-8000-000000000001',
  request_id: 'req-1',
  provider_id: 'chatcmpl-2',
  timestamp: new Date('2026-12-02T10:11:12.345Z'),
  model: 'model-3',
  provider: 'provider-4',
  provider_name: 'name-5',
  endpoint: '/endpoint-6',
  user_path: '/path/7',
  cache_type: 'exact',
  labels: ['label-8', 'label "9"'],
  input_tokens: 10,
  output_tokens: 11,
  total_tokens: 12,
  uncached_input_tokens: 13,
  cached_input_tokens: 14,
  cache_write_input_tokens: 15,
  reasoning_tokens: 16,
  raw_data: { prompt_cached_tokens: 17 },
  input_cost: '0.18',
  output_cost: '0.19',
  total_cost: '0.37',
  cost_source: 'model_pricing',
  costs_calculation_caveat: 'caveat-20',
  budget_reservation_id: '0190b2c4-0000-7000-8000-000000000021',
  budget_reserved: '0.22',
  auth_key_id: '0190b2c4-0000-7000-8000-000000000023',
  auth_method: 'api_key',
  requested_model: 'virtual-24',
  session_id: 'session-25',
  saved_cost: '0.26',
};

/** How a line writes the columns that are not written as their plain text. */
const encoded: Partial<Record<keyof UsageRecord, string>> = {
  timestamp: '2026-12-02T10:11:12.345Z',
  labels: '{"label-8","label \\"9\\""}',
  raw_data: '{"prompt_cached_tokens":17}',
};

it('writes each column in its place in usageColumns order, and a final "." field', () => {
  expect(rowLine(row).split('\t')).toEqual([...usageColumns.map((c) => encoded[c] ?? String(row[c])), '.']);
});

it('writes missing and null fields as \\N (rows of earlier versions spill files lack later columns)', () => {
  const { budget_reservation_id: _a, budget_reserved: _b, ...before } = usageRow({ raw_data: null, total_cost: null });
  const fields = rowLine(before as UsageRecord).split('\t');
  for (const c of ['budget_reservation_id', 'budget_reserved', 'raw_data', 'total_cost'] as const) expect(fields[usageColumns.indexOf(c)]).toBe('\\N');
  // A JSON spill line carries its timestamp as text.
  const line = journaledRowLine(JSON.stringify(before))!;
  expect(line.split('\t')[usageColumns.indexOf('timestamp')]).toBe(before.timestamp.toISOString());
});

it('reads a journal line written before rows named their key, requested model or session, or kept a saving, with the columns missing NULL', () => {
  const line = rowLine(row);
  const fields = line.split('\t');
  const before = (column: (typeof usageColumns)[number]) => fields.slice(0, usageColumns.indexOf(column));
  const nulls = (n: number) => Array<string>(n).fill('\\N');
  expect(journaledRowLine([...before('auth_key_id'), '.'].join('\t'))!.split('\t')).toEqual([...before('auth_key_id'), ...nulls(5), '.']);
  expect(journaledRowLine([...before('requested_model'), '.'].join('\t'))!.split('\t')).toEqual([...before('requested_model'), ...nulls(3), '.']);
  expect(journaledRowLine([...before('session_id'), '.'].join('\t'))!.split('\t')).toEqual([...before('session_id'), ...nulls(2), '.']);
  expect(journaledRowLine([...before('saved_cost'), '.'].join('\t'))!.split('\t')).toEqual([...before('saved_cost'), ...nulls(1), '.']);
  expect(journaledRowLine(fields.slice(0, -5).concat('.').join('\t'))).toBeNull();
  expect(journaledRowLine(fields.slice(0, -7).concat('.').join('\t'))).toBeNull();
});
