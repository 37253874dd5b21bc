import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as api from '../../generated/sdk.gen.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { usageRow } from '../support/usage-rows.ts';

let gw: TestGateway;
const at = (iso: string) => new Date(iso);
const week = { start_date: '2026-10-20', end_date: '2026-10-26' };

beforeAll(async () => {
  gw = await startTestGateway();
  const rows = [
    // A: 00:30 on Oct 25 in Warsaw (CEST), still Oct 24 in UTC
    usageRow({ request_id: 'req-a', timestamp: at('2026-10-24T22:30:00Z'), user_path: '/team', labels: ['alpha', 'beta'] }),
    // B: Anthropic with cache reads and writes, 23:30 on Oct 25 in Warsaw (CET, after the DST change)
    usageRow({
      request_id: 'req-b', timestamp: at('2026-10-25T22:30:00Z'), model: 'claude-sonnet-4-5', provider: 'anthropic', provider_name: 'anthropic',
      user_path: '/team/x', labels: ['beta'], input_tokens: 50, uncached_input_tokens: 50, cached_input_tokens: 100, cache_write_input_tokens: 50,
      output_tokens: 40, total_tokens: 240, input_cost: '0.0003', output_cost: '0.0006', total_cost: '0.0009',
      raw_data: { cache_read_input_tokens: 100, cache_creation_input_tokens: 50 },
    }),
    // C: unknown price; a sibling-prefix path
    usageRow({
      request_id: 'req-c', timestamp: at('2026-10-25T23:30:00Z'), provider_name: 'openai-east', user_path: '/team-alpha', labels: ['gamma'],
      input_tokens: 10, output_tokens: 5, total_tokens: 15, uncached_input_tokens: 10,
      input_cost: null, output_cost: null, total_cost: null, cost_source: '', costs_calculation_caveat: 'no pricing for model gpt-4o-mini',
    }),
    // D: a gateway cache hit
    usageRow({ request_id: 'req-d', provider_id: 'chatcmpl-B9MBs8CjcvOU2jLn', timestamp: at('2026-10-25T12:00:00Z'), user_path: '/team', cache_type: 'exact' }),
    // E: LIKE wildcards in ids and paths
    usageRow({ request_id: 'req_100%', timestamp: at('2026-10-20T10:00:00Z'), user_path: '/a%b' }),
    usageRow({ request_id: 'reqX100Y', timestamp: at('2026-10-20T11:00:00Z'), user_path: '/axb' }),
    // H: ids either side of the ends of prefix ranges (U+D7FF is followed by U+E000; U+10FFFF is last)
    ...['idx-\uD7FFa', 'idx-\uE000a', 'idx-\u{10FFFF}a', 'idx-\u{10FFFF}', 'idx.'].map((id) =>
      usageRow({ request_id: id, provider_id: '', timestamp: at('2026-09-01T10:00:00Z'), user_path: '/ends' }),
    ),
    // F: either side of local midnight in Asia/Kolkata (UTC+05:30)
    usageRow({ request_id: 'req-f1', timestamp: at('2026-11-01T18:15:00Z'), user_path: '/kolkata', labels: ['k'] }),
    usageRow({ request_id: 'req-f2', timestamp: at('2026-11-01T18:45:00Z'), user_path: '/kolkata', labels: ['k'], model: 'gpt-4o' }),
    // G: ISO week 53 of 2020 spans the new year
    usageRow({ request_id: 'req-g1', timestamp: at('2020-12-31T12:00:00Z'), user_path: '/iso' }),
    usageRow({ request_id: 'req-g2', timestamp: at('2021-01-01T12:00:00Z'), user_path: '/iso' }),
    usageRow({ request_id: 'req-g3', timestamp: at('2021-01-04T12:00:00Z'), user_path: '/iso' }),
  ];
  for (const r of rows) gw.recorder.record(r);
  await gw.recorder.flush();
});

afterAll(() => gw.stop());

describe('GET /admin/usage/summary', () => {
  it('totals uncached provider traffic by default, with the stored input split', async () => {
    const { data } = await api.getUsageSummary({ client: gw.client, query: week });
    expect(data).toEqual({
      total_requests: 5,
      total_input_tokens: 100 + 50 + 10 + 100 + 100,
      total_output_tokens: 20 + 40 + 5 + 20 + 20,
      total_tokens: 120 + 240 + 15 + 120 + 120,
      uncached_input_tokens: 100 + 50 + 10 + 100 + 100,
      cached_input_tokens: 100,
      cache_write_input_tokens: 50,
      total_input_cost: 0.000345,
      total_output_cost: 0.000636,
      total_cost: 0.000981,
      unknown_cost_requests: 1,
    });
  });

  it('cache_mode selects cache hits, provider calls or both', async () => {
    const cached = await api.getUsageSummary({ client: gw.client, query: { ...week, cache_mode: 'cached' } });
    const all = await api.getUsageSummary({ client: gw.client, query: { ...week, cache_mode: 'all' } });
    expect(cached.data?.total_requests).toBe(1);
    expect(all.data?.total_requests).toBe(6);
  });

  it('user_path matches the subtree and never a sibling prefix', async () => {
    const { data } = await api.getUsageSummary({ client: gw.client, query: { ...week, user_path: '/team' } });
    expect(data?.total_requests).toBe(2);
    const nested = await api.getUsageSummary({ client: gw.client, query: { ...week, user_path: 'team/x/' } });
    expect(nested.data?.total_requests).toBe(1);
  });

  it('treats % and _ in user_path literally', async () => {
    const { data } = await api.getUsageSummary({ client: gw.client, query: { ...week, user_path: '/a%b' } });
    expect(data?.total_requests).toBe(1);
  });

  it('provider matches the provider type or the configured name', async () => {
    const byName = await api.getUsageSummary({ client: gw.client, query: { ...week, provider: 'openai-east' } });
    const byType = await api.getUsageSummary({ client: gw.client, query: { ...week, provider: 'anthropic' } });
    expect(byName.data?.total_requests).toBe(1);
    expect(byType.data?.total_requests).toBe(1);
  });

  it('keeps unknown costs null instead of 0', async () => {
    const { data } = await api.getUsageSummary({ client: gw.client, query: { ...week, provider: 'openai-east' } });
    expect(data).toMatchObject({ total_requests: 1, total_input_cost: null, total_output_cost: null, total_cost: null });
  });

  it('label filters by exact membership', async () => {
    const { data } = await api.getUsageSummary({ client: gw.client, query: { ...week, label: 'beta' } });
    expect(data?.total_requests).toBe(2);
    const none = await api.getUsageSummary({ client: gw.client, query: { ...week, label: 'bet' } });
    expect(none.data?.total_requests).toBe(0);
  });

  it('combines filters across dimensions, also when no rollup holds all of them', async () => {
    const labelAndPath = await api.getUsageSummary({ client: gw.client, query: { ...week, label: 'beta', user_path: '/team/x' } });
    expect(labelAndPath.data?.total_requests).toBe(1);
    const labelPathModel = await api.getUsageSummary({ client: gw.client, query: { ...week, label: 'beta', user_path: '/team', model: 'gpt-4o-mini' } });
    expect(labelPathModel.data).toMatchObject({ total_requests: 1, total_cost: 0.000027 });
    const modelsOfLabel = await api.getModelUsage({ client: gw.client, query: { ...week, label: 'beta' } });
    expect(modelsOfLabel.data?.map((m) => [m.model, m.requests])).toEqual([['claude-sonnet-4-5', 1], ['gpt-4o-mini', 1]]);
    const pathsOfModel = await api.getUserPathUsage({ client: gw.client, query: { ...week, provider: 'anthropic' } });
    expect(pathsOfModel.data?.map((p) => [p.user_path, p.requests])).toEqual([['/team/x', 1]]);
    const labelsOfPath = await api.getLabelUsage({ client: gw.client, query: { ...week, user_path: '/team-alpha' } });
    expect(labelsOfPath.data?.map((l) => [l.label, l.requests])).toEqual([['gamma', 1]]);
  });

  it('uses local midnight of X-GoModel-Timezone, including the :30 offset edges', async () => {
    const q = { start_date: '2026-11-02', end_date: '2026-11-02', user_path: '/kolkata' };
    const kolkata = await api.getUsageSummary({ client: gw.client, query: q, headers: { 'X-GoModel-Timezone': 'Asia/Kolkata' } });
    const utc = await api.getUsageSummary({ client: gw.client, query: q });
    expect(kolkata.data?.total_requests).toBe(1);
    expect(utc.data?.total_requests).toBe(0);
  });

  it('breaks down by model and label at the :30 offset edges of a local day', async () => {
    const q = { start_date: '2026-11-02', end_date: '2026-11-02' };
    const headers = { 'X-GoModel-Timezone': 'Asia/Kolkata' };
    const models = await api.getModelUsage({ client: gw.client, query: q, headers });
    expect(models.data?.map((m) => [m.model, m.requests])).toEqual([['gpt-4o', 1]]);
    const labels = await api.getLabelUsage({ client: gw.client, query: q, headers });
    expect(labels.data?.map((l) => [l.label, l.requests])).toEqual([['k', 1]]);
    const dayBefore = await api.getLabelUsage({ client: gw.client, query: { start_date: '2026-11-01', end_date: '2026-11-01' }, headers });
    expect(dayBefore.data?.map((l) => [l.label, l.requests])).toEqual([['k', 1]]);
  });

  it('answers an empty range with zeroes and null costs', async () => {
    const { data } = await api.getUsageSummary({ client: gw.client, query: { start_date: '2025-01-01', end_date: '2025-01-31' } });
    expect(data).toEqual({
      total_requests: 0, total_input_tokens: 0, total_output_tokens: 0, total_tokens: 0, uncached_input_tokens: 0,
      cached_input_tokens: 0, cache_write_input_tokens: 0, total_input_cost: null, total_output_cost: null, total_cost: null,
      unknown_cost_requests: 0,
    });
  });
});

describe('GET /admin/usage/daily', () => {
  it('groups by local day across a DST change', async () => {
    const q = { start_date: '2026-10-24', end_date: '2026-10-26', user_path: '/team' };
    const warsaw = await api.getDailyUsage({ client: gw.client, query: q, headers: { 'X-GoModel-Timezone': 'Europe/Warsaw' } });
    expect(warsaw.data?.map((d) => [d.date, d.requests])).toEqual([['2026-10-25', 2]]);
    const utc = await api.getDailyUsage({ client: gw.client, query: q });
    expect(utc.data?.map((d) => [d.date, d.requests])).toEqual([['2026-10-24', 1], ['2026-10-25', 1]]);
    const all = await api.getDailyUsage({ client: gw.client, query: { start_date: '2026-10-24', end_date: '2026-10-26' }, headers: { 'X-GoModel-Timezone': 'Europe/Warsaw' } });
    expect(all.data?.map((d) => [d.date, d.requests])).toEqual([['2026-10-25', 2], ['2026-10-26', 1]]);
  });

  it('counts the whole gateway alike from day, hour and 15-minute totals', async () => {
    const utc = await api.getDailyUsage({ client: gw.client, query: week });
    expect(utc.data?.map((d) => [d.date, d.requests])).toEqual([['2026-10-20', 2], ['2026-10-24', 1], ['2026-10-25', 2]]);
    expect(utc.data?.[2]).toEqual({
      date: '2026-10-25', requests: 2, input_tokens: 60, output_tokens: 45, total_tokens: 255,
      uncached_input_tokens: 60, cached_input_tokens: 100, cache_write_input_tokens: 50, input_cost: 0.0003, output_cost: 0.0006, total_cost: 0.0009,
    });
    const kolkata = await api.getDailyUsage({ client: gw.client, query: week, headers: { 'X-GoModel-Timezone': 'Asia/Kolkata' } });
    expect(kolkata.data?.map((d) => [d.date, d.requests])).toEqual([['2026-10-20', 2], ['2026-10-25', 1], ['2026-10-26', 2]]);
    const withHits = await api.getDailyUsage({ client: gw.client, query: { ...week, cache_mode: 'all' }, headers: { 'X-GoModel-Timezone': 'Europe/Warsaw' } });
    expect(withHits.data?.map((d) => [d.date, d.requests])).toEqual([['2026-10-20', 2], ['2026-10-25', 3], ['2026-10-26', 1]]);
  });

  it('splits a :30-offset zone at local midnight', async () => {
    const { data } = await api.getDailyUsage({
      client: gw.client, query: { start_date: '2026-11-01', end_date: '2026-11-02', user_path: '/kolkata' }, headers: { 'X-GoModel-Timezone': 'Asia/Kolkata' },
    });
    expect(data?.map((d) => [d.date, d.requests])).toEqual([['2026-11-01', 1], ['2026-11-02', 1]]);
  });

  it('labels ISO weeks, including week 53, and groups months and years', async () => {
    const q = { start_date: '2020-12-28', end_date: '2021-01-10', user_path: '/iso' };
    const weekly = await api.getDailyUsage({ client: gw.client, query: { ...q, interval: 'weekly' } });
    expect(weekly.data?.map((d) => [d.date, d.requests])).toEqual([['2020-W53', 2], ['2021-W01', 1]]);
    const monthly = await api.getDailyUsage({ client: gw.client, query: { ...q, interval: 'monthly' } });
    expect(monthly.data?.map((d) => [d.date, d.requests])).toEqual([['2020-12', 1], ['2021-01', 2]]);
    const yearly = await api.getDailyUsage({ client: gw.client, query: { ...q, interval: 'yearly' } });
    expect(yearly.data?.map((d) => [d.date, d.requests])).toEqual([['2020', 1], ['2021', 2]]);
  });

  it('reports tokens and costs per period and leaves unknown costs out', async () => {
    const { data } = await api.getDailyUsage({ client: gw.client, query: { start_date: '2026-10-25', end_date: '2026-10-25', user_path: '/team-alpha' } });
    expect(data).toEqual([
      { date: '2026-10-25', requests: 1, input_tokens: 10, output_tokens: 5, total_tokens: 15, uncached_input_tokens: 10, cached_input_tokens: 0, cache_write_input_tokens: 0 },
    ]);
    const priced = await api.getDailyUsage({ client: gw.client, query: { start_date: '2026-10-25', end_date: '2026-10-25', user_path: '/team/x' } });
    expect(priced.data).toEqual([
      {
        date: '2026-10-25', requests: 1, input_tokens: 50, output_tokens: 40, total_tokens: 240,
        uncached_input_tokens: 50, cached_input_tokens: 100, cache_write_input_tokens: 50, input_cost: 0.0003, output_cost: 0.0006, total_cost: 0.0009,
      },
    ]);
  });
});

describe('breakdowns', () => {
  it('by label counts a row once under each of its labels and omits unlabelled rows', async () => {
    const { data } = await api.getLabelUsage({ client: gw.client, query: week });
    expect(data?.map((l) => [l.label, l.requests])).toEqual([['alpha', 1], ['beta', 2], ['gamma', 1]]);
    expect(data?.find((l) => l.label === 'gamma')).toMatchObject({ input_cost: null, output_cost: null, total_cost: null });
    expect(data?.find((l) => l.label === 'beta')?.total_cost).toBeCloseTo(0.000927, 12);
  });

  it('by model groups model, provider type and provider name', async () => {
    const { data } = await api.getModelUsage({ client: gw.client, query: week });
    expect(data?.map((m) => [m.model, m.provider, m.provider_name, m.requests])).toEqual([
      ['claude-sonnet-4-5', 'anthropic', 'anthropic', 1],
      ['gpt-4o-mini', 'openai', 'openai', 3],
      ['gpt-4o-mini', 'openai', 'openai-east', 1],
    ]);
    expect(data?.find((m) => m.provider_name === 'openai-east')?.total_cost).toBeNull();
  });

  it('by user path groups exact paths', async () => {
    const { data } = await api.getUserPathUsage({ client: gw.client, query: { ...week, user_path: '/team' } });
    expect(data?.map((p) => [p.user_path, p.requests, p.total_tokens])).toEqual([['/team', 1, 120], ['/team/x', 1, 240]]);
  });
});

describe('GET /admin/usage/log', () => {
  it('pages newest first with the total of matching rows', async () => {
    const first = await api.getUsageLog({ client: gw.client, query: { ...week, limit: 2 } });
    expect(first.data?.total).toBe(5);
    expect(first.data?.entries?.map((e) => e.request_id)).toEqual(['req-c', 'req-b']);
    const second = await api.getUsageLog({ client: gw.client, query: { ...week, limit: 2, offset: 2 } });
    expect(second.data?.entries?.map((e) => e.request_id)).toEqual(['req-a', 'reqX100Y']);
    expect(second.data).toMatchObject({ limit: 2, offset: 2, total: 5 });
  });

  it('derives the input split and leaves unknown costs out of the entry', async () => {
    const { data } = await api.getUsageLog({ client: gw.client, query: { ...week, search: 'req-b' } });
    expect(data?.entries?.[0]).toMatchObject({
      request_id: 'req-b', uncached_input_tokens: 50, cached_input_tokens: 100, cache_write_input_tokens: 50, cached_input_ratio: 0.5,
      input_cost: 0.0003, total_cost: 0.0009, cost_source: 'model_pricing', raw_data: { cache_read_input_tokens: 100, cache_creation_input_tokens: 50 },
    });
    const unknown = await api.getUsageLog({ client: gw.client, query: { ...week, search: 'req-c' } });
    const entry = unknown.data?.entries?.[0];
    expect(entry && 'total_cost' in entry).toBe(false);
    expect(entry?.costs_calculation_caveat).toBe('no pricing for model gpt-4o-mini');
  });

  it('searches case-insensitively with % and _ taken literally', async () => {
    const { data } = await api.getUsageLog({ client: gw.client, query: { ...week, search: 'REQ_100%' } });
    expect(data?.entries?.map((e) => e.request_id)).toEqual(['req_100%']);
    expect(data?.total).toBe(1);
    const byProviderName = await api.getUsageLog({ client: gw.client, query: { ...week, search: 'EAST' } });
    expect(byProviderName.data?.entries?.map((e) => e.request_id)).toEqual(['req-c']);
  });

  it('matches ids that start with the search, model and provider names that contain it', async () => {
    const search = async (term: string) =>
      (await api.getUsageLog({ client: gw.client, query: { ...week, search: term, cache_mode: 'all' } })).data?.entries?.map((e) => e.request_id);
    expect(await search('CHATCMPL-b9mbs8')).toEqual(['req-d']);
    expect(await search('chatcmpl-B9MBs8CjcvOU2jLn')).toEqual(['req-d']);
    expect(await search('B9MBs8')).toEqual([]);
    expect(await search('eq-b')).toEqual([]);
    expect(await search('sonnet')).toEqual(['req-b']);
  });

  it('matches prefixes that end in the last characters before a gap or of Unicode', async () => {
    const search = async (term: string) =>
      (await api.getUsageLog({ client: gw.client, query: { start_date: '2026-09-01', end_date: '2026-09-01', search: term } })).data?.entries?.map((e) => e.request_id).sort();
    expect(await search('idx-\uD7FF')).toEqual(['idx-\uD7FFa']);
    expect(await search('IDX-\u{10FFFF}')).toEqual(['idx-\u{10FFFF}', 'idx-\u{10FFFF}a']);
    expect(await search('idx-')).toEqual(['idx-\uD7FFa', 'idx-\uE000a', 'idx-\u{10FFFF}', 'idx-\u{10FFFF}a'].sort());
  });

  it('counts matches on models and on ids once each', async () => {
    const byModel = await api.getUsageLog({ client: gw.client, query: { ...week, search: 'GPT-4O' } });
    expect(byModel.data?.total).toBe(4);
    expect(byModel.data?.entries?.map((e) => e.request_id)).toEqual(['req-c', 'req-a', 'reqX100Y', 'req_100%']);
    // 'req' is in every request id, and 'gpt' rows also match by model: still one count per row
    const both = await api.getUsageLog({ client: gw.client, query: { ...week, search: 'req' } });
    expect(both.data?.total).toBe(5);
  });

  it('combines filters', async () => {
    const { data } = await api.getUsageLog({ client: gw.client, query: { ...week, model: 'gpt-4o-mini', user_path: '/team', cache_mode: 'all' } });
    expect(data?.entries?.map((e) => [e.request_id, e.cache_type])).toEqual([['req-d', 'exact'], ['req-a', '']]);
    expect(data?.total).toBe(2);
  });

  it('returns an empty page past the end', async () => {
    const { data } = await api.getUsageLog({ client: gw.client, query: { ...week, offset: 100 } });
    expect(data).toEqual({ entries: [], total: 5, limit: 50, offset: 100 });
  });
});

describe('default range', () => {
  it('covers the last 30 days ending today unless days says otherwise', async () => {
    const now = Date.now();
    gw.recorder.record(usageRow({ request_id: 'recent', user_path: '/range', timestamp: new Date(now - 120_000) }));
    gw.recorder.record(usageRow({ request_id: 'old', user_path: '/range', timestamp: new Date(now - 40 * 86_400_000) }));
    await gw.recorder.flush();
    const dflt = await api.getUsageSummary({ client: gw.client, query: { user_path: '/range' } });
    const longer = await api.getUsageSummary({ client: gw.client, query: { user_path: '/range', days: 60 } });
    const one = await api.getUsageSummary({ client: gw.client, query: { user_path: '/range', days: 1 } });
    expect([dflt.data?.total_requests, longer.data?.total_requests, one.data?.total_requests]).toEqual([1, 2, 1]);
  });
});

describe('GET /admin/usage/throughput', () => {
  it('returns a zero-filled trailing window per granularity', async () => {
    const now = Date.now();
    gw.recorder.record(usageRow({ request_id: 'tp-1', timestamp: new Date(now - 1500), input_tokens: 70, uncached_input_tokens: 30, cached_input_tokens: 40, output_tokens: 9, total_tokens: 79 }));
    gw.recorder.record(usageRow({ request_id: 'tp-2', timestamp: new Date(now - 1500), cache_type: 'semantic', input_tokens: 11, uncached_input_tokens: 11, output_tokens: 4, total_tokens: 15 }));
    await gw.recorder.flush();
    const expected = { second: [60, 1], minute: [60, 60], hour: [24, 3600], day: [30, 86400] } as const;
    for (const granularity of ['second', 'minute', 'hour', 'day'] as const) {
      const { data } = await api.getTokenThroughput({ client: gw.client, query: { granularity } });
      expect(data?.granularity).toBe(granularity);
      expect([data?.buckets?.length, data?.bucket_seconds]).toEqual(expected[granularity]);
      const sum = (k: 'input_tokens' | 'output_tokens' | 'prompt_cached_tokens' | 'locally_cached_tokens') =>
        data!.buckets!.reduce((acc, b) => acc + (b[k] ?? 0), 0);
      // the window covers everything recorded in the last few seconds (plus older rows for hour/day)
      expect(sum('prompt_cached_tokens')).toBeGreaterThanOrEqual(40);
      expect(sum('locally_cached_tokens')).toBeGreaterThanOrEqual(15);
      const starts = data!.buckets!.map((b) => Date.parse(b.start!));
      const steps = starts.slice(1).map((s, i) => (s - starts[i]!) / 1000);
      // in UTC every bucket, days included, is exactly bucket_seconds long
      expect(new Set(steps)).toEqual(new Set([data!.bucket_seconds]));
      expect(starts.at(-1)!).toBeLessThanOrEqual(Date.now());
    }
    const second = await api.getTokenThroughput({ client: gw.client, query: { granularity: 'second' } });
    expect(second.data?.buckets?.reduce((a, b) => a + (b.input_tokens ?? 0), 0)).toBe(30);
  });

  it('aligns hour buckets to the offset of the time zone', async () => {
    const { data } = await api.getTokenThroughput({ client: gw.client, query: { granularity: 'hour' }, headers: { 'X-GoModel-Timezone': 'Asia/Kolkata' } });
    expect(data?.buckets?.every((b) => /T\d\d:00:00\+05:30$/.test(b.start!))).toBe(true);
  });

  it('starts day buckets at each local midnight, also across a DST change', async () => {
    const { data } = await api.getTokenThroughput({ client: gw.client, query: { granularity: 'day' }, headers: { 'X-GoModel-Timezone': 'America/New_York' } });
    expect(data?.buckets).toHaveLength(30);
    expect(data?.buckets?.every((b) => /T00:00:00-0[45]:00$/.test(b.start!))).toBe(true);
    const dates = data!.buckets!.map((b) => b.start!.slice(0, 10));
    expect(new Set(dates).size).toBe(30);
  });
});

describe('ranges into the future', () => {
  const ops = ['summary', 'models', 'user-paths', 'labels', 'log', 'daily'];
  const emptyAnswer = (op: string) => (op === 'summary' ? { total_requests: 0, total_cost: null } : op === 'log' ? { entries: [], total: 0 } : []);

  it.each(ops)('/admin/usage/%s counts up to today in a range that runs ahead, and answers one wholly ahead (to 9999-12-31) with nothing', async (op) => {
    gw.recorder.record(usageRow({ request_id: `ahead-${op}`, user_path: `/ahead/${op}`, labels: ['ahead'], timestamp: new Date(Date.now() - 3_600_000) }));
    await gw.recorder.flush();
    const day = (offsetDays: number) => new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);
    const get = async (range: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${gw.url}/admin/usage/${op}?${range}&user_path=/ahead/${op}`, { headers });
      expect(res.status).toBe(200);
      return res.json();
    };
    const ahead = await get(`start_date=${day(-300)}&end_date=${day(60)}`);
    expect(JSON.stringify(ahead)).toMatch(/"(total_)?requests":1\b|"total":1\b/);
    expect(ahead).toEqual(await get(`start_date=${day(-300)}&end_date=${day(0)}`));
    for (const range of [`end_date=${day(31)}`, 'start_date=2099-01-01&end_date=2099-01-31', 'end_date=9999-12-31', 'start_date=9999-12-31&end_date=9999-12-31']) {
      for (const zone of ['UTC', 'Pacific/Kiritimati']) expect(await get(range, { 'X-GoModel-Timezone': zone })).toMatchObject(emptyAnswer(op));
    }
  });
});

describe('unknown query parameters', () => {
  it('are ignored, as the original gateway ignores them (a cache-buster)', async () => {
    const plain = await fetch(`${gw.url}/admin/usage/summary?start_date=2026-10-20&end_date=2026-10-26`);
    const busted = await fetch(`${gw.url}/admin/usage/summary?start_date=2026-10-20&end_date=2026-10-26&_=1764950400000&utm_source=x`);
    expect(busted.status).toBe(200);
    expect(await busted.json()).toEqual(await plain.json());
    expect((await fetch(`${gw.url}/admin/usage/log?_=123`)).status).toBe(200);
    expect((await fetch(`${gw.url}/v1/usage?_=123`)).status).toBe(200);
  });

  it('leave invalid values of known parameters a 400 naming them', async () => {
    const res = await fetch(`${gw.url}/admin/usage/log?_=123&limit=0`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ type: 'invalid_request_error', param: 'limit' });
  });
});

describe('invalid parameters', () => {
  const cases: [string, string, string][] = [
    ['/admin/usage/summary?days=abc', 'days', 'integer'],
    ['/admin/usage/summary?days=0', 'days', '>= 1'],
    ['/admin/usage/summary?days=366', 'days', '<= 365'],
    ['/admin/usage/summary?start_date=2026-02-30', 'start_date', 'calendar date'],
    ['/admin/usage/summary?start_date=20260101', 'start_date', 'YYYY-MM-DD'],
    ['/admin/usage/summary?start_date=2026-13-01', 'start_date', 'YYYY-MM-DD'],
    ['/admin/usage/summary?start_date=2026-03-02&end_date=2026-03-01', 'start_date', 'after end_date'],
    ['/admin/usage/summary?start_date=2025-01-01&end_date=2026-01-01', 'start_date', '365 days'],
    ['/admin/usage/summary?cache_mode=sometimes', 'cache_mode', 'uncached, cached, all'],
    ['/admin/usage/summary?user_path=/a/../b', 'user_path', '".."'],
    ['/admin/usage/summary?user_path=/a:b', 'user_path', '":"'],
    ['/admin/usage/daily?interval=hourly', 'interval', 'daily, weekly, monthly, yearly'],
    ['/admin/usage/log?limit=0', 'limit', '>= 1'],
    ['/admin/usage/log?limit=201', 'limit', '<= 200'],
    ['/admin/usage/log?offset=-1', 'offset', '>= 0'],
    ['/admin/usage/log?search=' + 'x'.repeat(257), 'search', 'more than 256 characters'],
    ['/admin/usage/log?search=a%1Fb', 'search', 'control characters'],
    ['/admin/usage/labels?end_date=tomorrow', 'end_date', 'YYYY-MM-DD'],
    // past what PostgreSQL's bigint offset and a double hold
    ['/admin/usage/log?offset=1e30', 'offset', '<= 9007199254740991'],
    ['/admin/usage/log?offset=9223372036854775807', 'offset', '<= 9007199254740991'],
    ['/admin/usage/log?offset=99999999999999999999', 'offset', '<= 9007199254740991'],
    ['/admin/usage/log?limit=1e400', 'limit', '<= 200'],
    // PostgreSQL text takes no NUL
    ...['summary', 'models', 'user-paths', 'labels', 'log'].flatMap((op): [string, string, string][] =>
      ['model', 'provider', ...(op === 'log' ? [] : ['label'])].map((param) => [`/admin/usage/${op}?${param}=a%00b`, param, 'control characters']),
    ),
    ['/admin/usage/throughput', 'granularity', 'required'],
    ['/admin/usage/throughput?granularity=week', 'granularity', 'second, minute, hour, day'],
  ];
  it.each(cases)('%s → 400 naming %s', async (path, param, fragment) => {
    const res = await fetch(gw.url + path);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { type: string; param: string; message: string; status_code: number };
    expect(body).toMatchObject({ type: 'invalid_request_error', param, status_code: 400 });
    expect(body.message).toContain(fragment);
  });

  it('rejects an unknown time zone naming the header', async () => {
    const res = await fetch(`${gw.url}/admin/usage/summary`, { headers: { 'X-GoModel-Timezone': 'Mars/Olympus_Mons' } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ type: 'invalid_request_error', param: 'X-GoModel-Timezone' });
  });
});
