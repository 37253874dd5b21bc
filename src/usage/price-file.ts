import { readFileSync } from 'node:fs';
import { providerTypes, type ProviderType } from '../providers/types.ts';
import type { PriceFields } from '../config.ts';
import { priceFromFields, type ModelPrice } from './model-price.ts';

/** One entry of `prices.json`: a price for the listed model ids (`"*"`: every model of the provider). */
export interface PriceFileEntry extends PriceFields {
  models: string[];
  source: string;
  as_of: string;
}

export interface PriceFile {
  providers: Partial<Record<ProviderType, PriceFileEntry[]>>;
}

/** Prices from the file, by provider type and then lower-cased model id (`*` for any model). */
export type FilePrices = ReadonlyMap<ProviderType, ReadonlyMap<string, ModelPrice>>;

export const WILDCARD_MODEL = '*';

/** The price file shipped beside this module. */
export function readBundledPriceFile(): PriceFile {
  return JSON.parse(readFileSync(new URL('./prices.json', import.meta.url), 'utf8')) as PriceFile;
}

/** Validates and converts a price file; throws naming the offending entry. */
export function loadPriceFile(file: PriceFile): FilePrices {
  const byProvider = new Map<ProviderType, Map<string, ModelPrice>>();
  for (const [type, entries] of Object.entries(file.providers)) {
    if (!(providerTypes as readonly string[]).includes(type)) throw new Error(`prices.json: unknown provider type ${type}`);
    const models = new Map<string, ModelPrice>();
    for (const entry of entries ?? []) {
      const where = `prices.json ${type}/${entry.models?.join(',')}`;
      if (!Array.isArray(entry.models) || entry.models.length === 0) throw new Error(`${where}: no models`);
      if (!entry.source) throw new Error(`${where}: no source`);
      if (!/^\d{4}-\d{2}-\d{2}$/.test(entry.as_of ?? '')) throw new Error(`${where}: as_of must be YYYY-MM-DD`);
      let price: ModelPrice;
      try {
        price = priceFromFields(entry, entry.source);
      } catch (err) {
        throw new Error(`${where}: ${(err as Error).message}`);
      }
      for (const model of entry.models) {
        const key = model.toLowerCase();
        if (models.has(key)) throw new Error(`${where}: ${model} listed twice`);
        models.set(key, price);
      }
    }
    byProvider.set(type as ProviderType, models);
  }
  return byProvider;
}
