import type { PriceFields } from '../../config.ts';
import { invalidRequest, notFound } from '../../errors.ts';
import { priceFromFields } from '../../usage/model-price.ts';
import { parseSelector, type PriceOverrideStore, type Selector, type StoredPriceOverride } from '../../usage/price-override-store.ts';
import type { PriceOverrides } from '../../usage/price-overrides.ts';
import type { Handler } from '../context.ts';

export interface PricingOverrideDeps {
  store: PriceOverrideStore;
  overrides: PriceOverrides;
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

export function pricingOverrideHandlers({ store, overrides }: PricingOverrideDeps) {
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

  return { listModelPricingOverrides, upsertModelPricingOverride, deleteModelPricingOverride };
}
