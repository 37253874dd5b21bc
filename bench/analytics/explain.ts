import postgres from 'postgres';
import type { HandlerContext } from '../../src/http/context.ts';
import { usageHandlers } from '../../src/http/handlers/usage.ts';
import { UsageQueries } from '../../src/usage/queries.ts';
import type { AnalyticsCase } from './cases.ts';

const handlerOf: Record<string, keyof ReturnType<typeof usageHandlers>> = {
  '/admin/usage/summary': 'getUsageSummary',
  '/admin/usage/daily': 'getDailyUsage',
  '/admin/usage/models': 'getModelUsage',
  '/admin/usage/user-paths': 'getUserPathUsage',
  '/admin/usage/labels': 'getLabelUsage',
  '/admin/usage/log': 'getUsageLog',
  '/admin/usage/throughput': 'getTokenThroughput',
};

const numeric = new Set(['days', 'limit', 'offset']);

/**
 * EXPLAIN (ANALYZE, BUFFERS) of every statement an analytics request runs: the gateway's own
 * handler is called with a postgres.js pool that records each statement and its parameters, and
 * each one is explained on the same database. Returns one text block per statement.
 */
export async function explainCase(url: string, c: AnalyticsCase): Promise<string[] | null> {
  const name = handlerOf[c.path];
  if (!name) return null;
  const captured: { query: string; params: unknown[] }[] = [];
  let capturing = true;
  const sql = postgres(url, {
    max: 2,
    onnotice: () => {},
    connection: { TimeZone: 'UTC', jit: 'off', plan_cache_mode: 'force_custom_plan', max_parallel_workers_per_gather: '0' },
    debug: (_connection, query, params) => {
      // postgres.js looks up array types on a new connection: not the request's statement.
      if (capturing && !query.includes('pg_catalog.pg_type')) captured.push({ query, params });
    },
  });
  try {
    const query = Object.fromEntries(Object.entries(c.query).map(([k, v]) => [k, numeric.has(k) ? Number(v) : v]));
    const ctx = { query, headers: c.timeZone ? { 'x-gomodel-timezone': c.timeZone } : {} } as unknown as HandlerContext;
    await usageHandlers(new UsageQueries(sql))[name](ctx);
    capturing = false;
    const plans: string[] = [];
    for (const { query: text, params } of captured) {
      const rows = await sql.unsafe(`explain (analyze, buffers) ${text}`, params as never[]);
      plans.push(`${text.replace(/\s+/g, ' ').trim()}\n-- parameters: ${JSON.stringify(params)}\n${rows.map((r) => r['QUERY PLAN']).join('\n')}`);
    }
    return plans;
  } finally {
    await sql.end({ timeout: 1 });
  }
}
