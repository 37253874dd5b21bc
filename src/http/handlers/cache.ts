import type { GetCacheOverviewData } from '../../../generated/types.gen.ts';
import type { ResponseCache } from '../../cache/store.ts';
import type { UsageQueries } from '../../usage/queries.ts';
import type { Handler } from '../context.ts';
import { request } from './usage.ts';

/** `GET /admin/cache/overview`: the savings of cache hits over a range (from their usage rows) and the cache's size now. */
export function cacheHandlers(queries: UsageQueries, cache: ResponseCache, now: () => number = Date.now) {
  const getCacheOverview: Handler = async (ctx) => {
    const { tz, range, filters } = request(ctx, now());
    const q = ctx.query as NonNullable<GetCacheOverviewData['query']>;
    const [{ total, periods }, size] = await Promise.all([queries.cacheOverview(range, { ...filters, cacheMode: 'cached' }, q.interval ?? 'daily', tz), cache.size()]);
    const { settings } = cache;
    return {
      body: {
        summary: {
          total_hits: total.hits,
          exact_hits: total.exact_hits,
          semantic_hits: total.semantic_hits,
          total_input_tokens: total.input_tokens,
          total_output_tokens: total.output_tokens,
          total_tokens: total.total_tokens,
          total_saved_cost: total.saved_cost,
          unpriced_hits: total.unpriced_hits,
        },
        daily: periods,
        cache: {
          enabled: settings.enabled,
          entries: size.entries,
          bytes: size.bytes,
          max_bytes: settings.maxBytes,
          ttl_seconds: Math.round(settings.ttlMs / 1000),
          scope: settings.scope,
        },
      },
    };
  };
  return { getCacheOverview };
}
