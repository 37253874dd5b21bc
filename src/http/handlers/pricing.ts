import type { AdminRecalculatePricingRequest } from '../../../generated/types.gen.ts';
import type { PriceFields } from '../../config.ts';
import type { Sql } from '../../db/sql.ts';
import { invalidRequest, notFound } from '../../errors.ts';
import { formatInZone, resolveDateRange, resolveTimeZone } from '../../usage/dates.ts';
import { priceFromFields } from '../../usage/model-price.ts';
import { parseSelector, type PriceOverrideStore, type Selector, type StoredPriceOverride } from '../../usage/price-override-store.ts';
import type { PriceOverrides } from '../../usage/price-overrides.ts';
import type { PriceBook } from '../../usage/pricing.ts';
import { recalculatePricing as recalculate } from '../../usage/recalculate.ts';
import { normalizeUserPath } from '../../user-path.ts';
import { header, type Handler } from '../context.ts';

export interface PricingDeps {
  sql: Sql;
  prices: PriceBook;
  store: PriceOverrideStore;
  overrides: PriceOverrides;
  /** USAGE_RETENTION: a recalculation must not reach before it (null keeps every row). */
  retentionMs: number | null;
}

/** `pricingoverrides.View`. */
function view(o: StoredPriceOverride) {
  return {
    selector: o.selector,
    scope_kind: o.scopeKind,
    ...(o.provider ? { provider_name: o.provider } : {}),
    ...(o.model ? { model: o.model } : {}),
    pricing: o.pricing,
    created_at: o.createdAt.toISOString(),
    updated_at: o.updatedAt.toISOString(),
  };
}

function selectorOf(value: unknown): Selector {
  const s = typeof value === 'string' ? parseSelector(value) : null;
  if (!s) throw invalidRequest('selector must be "/", "provider/", "model" or "provider/model", without spaces', 'selector');
  return s;
}

function userPathOf(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  try {
    return normalizeUserPath(raw) ?? undefined;
  } catch (err) {
    throw invalidRequest(`invalid user_path: ${(err as Error).message}`, 'user_path');
  }
}

export function pricingHandlers({ sql, prices, store, overrides, retentionMs }: PricingDeps) {
  const listModelPricingOverrides: Handler = async () => ({ body: (await store.list()).map(view) });

  /** Stores the price after checking it converts exactly (at most 9 decimal places per million tokens, none negative). */
  const upsertModelPricingOverride: Handler = async (ctx) => {
    const body = ctx.body as { selector?: unknown; pricing: PriceFields };
    const selector = selectorOf(body.selector);
    try {
      priceFromFields(body.pricing, 'pricing override');
    } catch (err) {
      throw invalidRequest(`invalid pricing: ${(err as Error).message}`, 'pricing');
    }
    const saved = await store.save(selector, body.pricing);
    await overrides.reload();
    return { body: view(saved) };
  };

  const deleteModelPricingOverride: Handler = async (ctx) => {
    const selector = selectorOf((ctx.body as { selector?: unknown }).selector);
    if (!(await store.remove(selector.selector))) throw notFound(`no pricing override for ${selector.selector}`, 'pricing_override_not_found', 'selector');
    await overrides.reload();
    ctx.res.writeHead(204).end();
  };

  /** Prices the stored rows of a range again at the prices in force now (see usage/recalculate.ts). */
  const recalculatePricing: Handler = async (ctx) => {
    const b = (ctx.body ?? {}) as AdminRecalculatePricingRequest;
    if ((b.confirmation ?? b.confirm) !== 'recalculate') throw invalidRequest('confirmation must be "recalculate"', 'confirmation');
    const tz = resolveTimeZone(header(ctx, 'x-gomodel-timezone'));
    const range = resolveDateRange({ days: b.days, start_date: b.start_date, end_date: b.end_date }, tz, Date.now());
    // Older rows may be gone while their costs stay in the rollups, which could then no longer
    // agree with the prices of the rest of the range: refused rather than answered in part.
    if (retentionMs !== null && range.start < Date.now() - retentionMs) {
      const horizon = formatInZone(Date.now() - retentionMs, tz);
      throw invalidRequest(`the range starts before the usage retention (USAGE_RETENTION): rows before ${horizon} may be deleted, their costs kept only in the rollups; start after ${horizon.slice(0, 10)}`, b.start_date !== undefined ? 'start_date' : 'days');
    }
    const result = await recalculate(sql, prices, {
      start: new Date(range.start),
      end: new Date(range.rowsEnd),
      userPath: userPathOf(b.user_path),
      selector: b.selector === undefined ? undefined : selectorOf(b.selector),
    });
    return { body: { status: 'completed', ...result } };
  };

  return { listModelPricingOverrides, upsertModelPricingOverride, deleteModelPricingOverride, recalculatePricing };
}
