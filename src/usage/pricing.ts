import type { PriceOverride } from '../config.ts';
import type { ProviderType } from '../providers/types.ts';
import { priceAt, priceFromFields, type ModelPrice, type PriceSchedule } from './model-price.ts';
import { packageSchedule } from './package-prices.ts';
import { loadPriceFile, readBundledPriceFile, WILDCARD_MODEL, type FilePrices, type PriceFile } from './price-file.ts';

export type { ModelPrice, PriceTier } from './model-price.ts';

export interface PriceBookOptions {
  /** Our own prices for the package's gaps; defaults to `src/usage/prices.json`. */
  priceFile?: PriceFile;
  /** How many distinct (type, name, model) look-ups to remember; the oldest is forgotten first. */
  cacheSize?: number;
}

interface Override {
  provider: string | undefined;
  model: string;
  price: ModelPrice;
}

/** A price set through the admin API for a selector's scope (see price-override-store.ts). */
export interface ScopedPrice {
  scopeKind: 'global' | 'provider' | 'model' | 'provider_model';
  provider: string;
  model: string;
  price: ModelPrice;
}

/**
 * Per-token prices, from (in priority order) the admin API's overrides, the configuration's
 * overrides, our `prices.json`, and the @pydantic/genai-prices data. Built once at start-up (bad
 * configured or file prices throw here); the admin API's are installed whenever they change.
 */
export class PriceBook {
  readonly #overrides: Override[];
  #scoped: ScopedPrice[] = [];
  readonly #filePrices: FilePrices;
  readonly #cache = new Map<string, PriceSchedule | null>();
  readonly #cacheSize: number;

  constructor(overrides: readonly PriceOverride[] = [], options: PriceBookOptions = {}) {
    this.#overrides = overrides.map((o) => {
      try {
        return { provider: o.provider, model: o.model.toLowerCase(), price: priceFromFields(o, 'operator override') };
      } catch (err) {
        throw new Error(`price override ${o.provider ?? '*'}/${o.model}: ${(err as Error).message}`);
      }
    });
    this.#filePrices = loadPriceFile(options.priceFile ?? readBundledPriceFile());
    this.#cacheSize = options.cacheSize ?? 10_000;
  }

  /**
   * The price of `model` served by the provider instance `providerName` of type `providerType`, in
   * force at `at` (some prices change with the date or the time of day); null when unknown.
   * Resolution, misses included, is cached per (type, name, model), so this is a map look-up on
   * the request path.
   */
  lookup(providerType: ProviderType, providerName: string, model: string, at: Date = new Date()): ModelPrice | null {
    const key = `${providerType}\u0000${providerName}\u0000${model}`;
    let schedule = this.#cache.get(key);
    if (schedule === undefined) {
      schedule = this.#resolve(providerType, providerName, model);
      // Model ids come from clients and upstreams, so the cache must not grow without bound.
      if (this.#cache.size >= this.#cacheSize) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(key, schedule);
    }
    return schedule && priceAt(schedule, at);
  }

  /**
   * Installs the prices set through the admin API (all of them, replacing the previous set); the
   * next look-up of every model resolves again.
   */
  useScoped(prices: readonly ScopedPrice[]): void {
    this.#scoped = prices.map((p) => ({ ...p, provider: p.provider.toLowerCase(), model: p.model.toLowerCase() }));
    this.#cache.clear();
  }

  /**
   * The admin API's price for a model, the most precise scope first: provider and model, model,
   * provider, everything; a provider named by its instance's name before its type.
   */
  #scopedPrice(providerType: ProviderType, providerName: string, models: readonly string[]): ModelPrice | undefined {
    if (this.#scoped.length === 0) return undefined;
    const name = providerName.toLowerCase();
    const find = (kind: ScopedPrice['scopeKind'], provider: string) =>
      this.#scoped.find((p) => p.scopeKind === kind && p.provider === provider && (p.model === '' || models.includes(p.model)))?.price;
    return find('provider_model', name) ?? find('provider_model', providerType) ?? find('model', '') ?? find('provider', name) ?? find('provider', providerType) ?? find('global', '');
  }

  #resolve(providerType: ProviderType, providerName: string, model: string): PriceSchedule | null {
    const candidates = modelIdCandidates(providerType, model);
    const lowered = candidates.map((c) => c.toLowerCase());
    const scoped = this.#scopedPrice(providerType, providerName, lowered);
    if (scoped) return [{ price: scoped }];
    const override =
      this.#override(providerName, lowered) ?? this.#override(providerType, lowered) ?? this.#override(undefined, lowered);
    if (override) return [{ price: override }];
    const filePrices = this.#filePrices.get(providerType);
    const fromFile = filePrices && (lowered.map((c) => filePrices.get(c)).find(Boolean) ?? filePrices.get(WILDCARD_MODEL));
    if (fromFile) return [{ price: fromFile }];
    return packageSchedule(providerType, candidates);
  }

  #override(provider: string | undefined, models: readonly string[]): ModelPrice | undefined {
    return this.#overrides.find((o) => o.provider === provider && models.includes(o.model))?.price;
  }
}

/**
 * Forms of a model id to try, most specific first: as given, without Gemini's `models/` prefix or a
 * context-size suffix such as Xiaomi's `[1m]`, and for Fireworks the account-scoped
 * `accounts/fireworks/models/…` form its price data is keyed by.
 */
function modelIdCandidates(providerType: ProviderType, model: string): string[] {
  const given = model.trim();
  const bare = given.replace(/^models\//, '').replace(/\[[^\]]*\]$/, '');
  const candidates = [given, bare];
  if (providerType === 'fireworks' && !bare.startsWith('accounts/')) candidates.push(`accounts/fireworks/models/${bare}`);
  return [...new Set(candidates)];
}
