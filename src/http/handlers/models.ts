import type { ProviderRegistry } from '../../providers/registry.ts';
import type { VirtualModels } from '../../routing/virtual-models.ts';
import type { ModelPrice, PriceBook } from '../../usage/pricing.ts';
import type { Handler } from '../context.ts';
import { storedView } from './virtual-models.ts';

export interface ModelRegistryDeps {
  registry: ProviderRegistry;
  virtual: VirtualModels;
  prices: PriceBook;
}

/** The original gateway's model categories (`core.ModelCategory`), `all` aside. */
const categories = [
  ['text_generation', 'Text generation'],
  ['embedding', 'Embedding'],
  ['image', 'Image'],
  ['audio', 'Audio'],
  ['video', 'Video'],
  ['utility', 'Utility'],
] as const;
export type ModelCategory = (typeof categories)[number][0];

/**
 * A model's category from its id alone: providers' model lists say nothing about what a model
 * does, and the price data has no category. The names providers give (`text-embedding-3-small`,
 * `whisper-1`, `dall-e-3`, `omni-moderation-latest`) say it for the models they make; anything
 * else is taken for text generation.
 */
export function categoryOf(model: string): ModelCategory {
  const id = model.toLowerCase();
  if (/embed/.test(id)) return 'embedding';
  if (/moderation|rerank|guard/.test(id)) return 'utility';
  if (/sora|veo-|video/.test(id)) return 'video';
  if (/whisper|tts|transcri|audio|speech|realtime/.test(id)) return 'audio';
  if (/dall-e|gpt-image|imagen|image|flux|stable-diffusion|sdxl/.test(id)) return 'image';
  return 'text_generation';
}

/** USD per million tokens from femto-dollars per token (a double: this is for display, never for sums). */
const perMTok = (femto: bigint) => Number(femto) / 1e9;

/** `core.ModelPricing` from the price table's price: the rates it has, none it lacks. */
function pricingOf(p: ModelPrice) {
  const rates = (r: ModelPrice) => ({
    input_per_mtok: perMTok(r.input),
    output_per_mtok: perMTok(r.output),
    ...(r.cachedInput !== undefined ? { cached_input_per_mtok: perMTok(r.cachedInput) } : {}),
    ...(r.cacheWrite !== undefined ? { cache_write_per_mtok: perMTok(r.cacheWrite) } : {}),
    ...(r.reasoningOutput !== undefined ? { reasoning_output_per_mtok: perMTok(r.reasoningOutput) } : {}),
    ...(r.audioInput !== undefined ? { audio_input_per_mtok: perMTok(r.audioInput) } : {}),
    ...(r.audioOutput !== undefined ? { audio_output_per_mtok: perMTok(r.audioOutput) } : {}),
  });
  return {
    currency: 'USD',
    ...rates(p),
    ...(p.perRequest !== undefined ? { per_request: Number(p.perRequest) / 1e15 } : {}),
    ...(p.tiers?.length
      ? { tiers: p.tiers.map((t) => ({ ...(Number.isFinite(t.upToTokens) ? { up_to_tokens: t.upToTokens } : {}), input_per_mtok: perMTok(t.input), output_per_mtok: perMTok(t.output) })) }
      : {}),
  };
}

/**
 * GET /admin/models and /admin/models/categories: every model a configured provider lists, with
 * its selector, category, price (from the gateway's price table; null when unknown) and access
 * state (the access policy that governs it, if any).
 */
export function modelRegistryHandlers({ registry, virtual, prices }: ModelRegistryDeps) {
  function inventory() {
    const now = new Date();
    return registry.entries.flatMap((e) => {
      const { name, type } = e.config;
      const created = Math.floor(e.listedAt / 1000);
      return [...e.models].sort().map((model) => {
        const price = prices.lookup(type, name, model, now);
        const selector = `${name}/${model}`;
        const policy = virtual.policyFor(name, model);
        return {
          category: categoryOf(model),
          body: {
            model: {
              id: model,
              object: 'model',
              created,
              owned_by: name,
              metadata: { categories: [categoryOf(model)], pricing: price ? pricingOf(price) : null, ...(price ? { pricing_sources: { pricing: price.source } } : {}) },
            },
            provider_type: type,
            provider_name: name,
            selector,
            access: {
              selector,
              default_enabled: true,
              effective_enabled: policy ? policy.vm.enabled : true,
              user_paths: policy ? policy.vm.userPaths : [],
              ...(policy ? { override: storedView(policy.vm) } : {}),
            },
          },
        };
      });
    });
  }

  const listModelInventory: Handler = async (ctx) => {
    const category = ctx.query.category as string | undefined;
    const all = inventory();
    return { body: (category && category !== 'all' ? all.filter((m) => m.category === category) : all).map((m) => m.body) };
  };

  const listModelCategories: Handler = async () => {
    const counts = new Map<string, number>();
    let total = 0;
    for (const e of registry.entries) {
      for (const model of e.models) {
        const category = categoryOf(model);
        counts.set(category, (counts.get(category) ?? 0) + 1);
        total++;
      }
    }
    return {
      body: [{ category: 'all', count: total, display_name: 'All' }, ...categories.map(([category, display_name]) => ({ category, count: counts.get(category) ?? 0, display_name }))],
    };
  };

  return { listModelInventory, listModelCategories };
}
