import {
  calcPrice,
  type ModelInfo,
  type ModelPrice as PackageModelPrice,
  type StartDateConstraint,
  type TimeOfDateConstraint,
} from '@pydantic/genai-prices';
import type { ProviderType } from '../providers/types.ts';
import { parseDecimal, toScaledInteger } from './decimal.ts';
import type { ModelPrice, PriceConstraint, PriceSchedule, PriceTier, RateField, Rates } from './model-price.ts';

/** Our provider types as @pydantic/genai-prices names them; types missing here have no data there. */
export const packageProviderIds: Partial<Record<ProviderType, string>> = {
  openai: 'openai',
  anthropic: 'anthropic',
  gemini: 'google',
  groq: 'groq',
  fireworks: 'fireworks',
  openrouter: 'openrouter',
  deepseek: 'deepseek',
  zai: 'zai',
  xai: 'x-ai',
  minimax: 'minimax',
};

/** Decimal places that turn a quote into femto-dollars per unit: USD per million tokens, per thousand searches. */
const PER_MTOK = 9;
const PER_THOUSAND = 12;

/** The package's price key for each of our rates, with the unit it quotes in. */
const packageRateKeys: Record<RateField, readonly [key: string, decimals: number]> = {
  input: ['input_mtok', PER_MTOK],
  output: ['output_mtok', PER_MTOK],
  cachedInput: ['cache_read_mtok', PER_MTOK],
  cacheWrite: ['cache_write_mtok', PER_MTOK],
  cacheWrite1h: ['cache_write_1h_mtok', PER_MTOK],
  reasoningOutput: ['output_reasoning_mtok', PER_MTOK],
  audioInput: ['input_audio_mtok', PER_MTOK],
  cachedAudioInput: ['cache_audio_read_mtok', PER_MTOK],
  imageInput: ['input_image_mtok', PER_MTOK],
  cachedImageInput: ['cache_image_read_mtok', PER_MTOK],
  videoInput: ['input_video_mtok', PER_MTOK],
  audioOutput: ['output_audio_mtok', PER_MTOK],
  imageOutput: ['output_image_mtok', PER_MTOK],
  videoOutput: ['output_video_mtok', PER_MTOK],
  webSearch: ['web_searches_kcount', PER_THOUSAND],
};
type RateEntry = [RateField, readonly [key: string, decimals: number]];
const rateEntries = Object.entries(packageRateKeys) as RateEntry[];

/** Every package price key we charge. */
export const meteredPriceKeys: ReadonlySet<string> = new Set(rateEntries.map(([, [key]]) => key));

/**
 * Package price keys for units our chat and embeddings endpoints never produce: file searches (a
 * tool of OpenAI's Responses and Assistants APIs), audio hours (transcription and realtime voice)
 * and realtime text messages. Any other key in the data is charged (test/usage/pricing.test.ts
 * checks the bundled data has no third kind).
 */
export const unproducedPriceKeys: ReadonlySet<string> = new Set(['storage_searches_kcount', 'audio_hours', 'input_audio_hours', 'input_text_messages_kcount']);

interface PackageTiered {
  base: number;
  tiers: { start: number; price: number }[];
}

/**
 * The package's schedule for the first model id in `candidates` that its matcher (which also
 * handles dated snapshots and aliases) resolves for this provider type; null when none does.
 */
export function packageSchedule(providerType: ProviderType, candidates: readonly string[]): PriceSchedule | null {
  const providerId = packageProviderIds[providerType];
  if (!providerId) return null;
  for (const candidate of candidates) {
    const match = calcPrice({}, candidate, { providerId });
    if (match) return toSchedule(match.model, `@pydantic/genai-prices: ${match.provider.id}/${match.model.id}`);
  }
  return null;
}

function toSchedule(model: ModelInfo, source: string): PriceSchedule | null {
  const entries = Array.isArray(model.prices) ? model.prices : [{ prices: model.prices }];
  const schedule = [];
  for (const entry of entries) {
    const price = toModelPrice(entry.prices, source);
    if (!price) return null;
    schedule.push(entry.constraint ? { constraint: toConstraint(entry.constraint), price } : { price });
  }
  return schedule;
}

function toConstraint(c: StartDateConstraint | TimeOfDateConstraint): PriceConstraint {
  if (c.type === 'start_date') return { kind: 'from', startMs: Date.parse(`${c.start_date}T00:00:00Z`) };
  return { kind: 'daily', startSec: utcSecondOfDay(c.start_time), endSec: utcSecondOfDay(c.end_time) };
}

function utcSecondOfDay(time: string): number {
  const m = /^(\d{2}):(\d{2}):(\d{2}(?:\.\d+)?)(Z|([+-])(\d{2}):(\d{2}))$/.exec(time);
  if (!m) throw new RangeError(`bad time of day in price data: ${time}`);
  const local = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  const offset = m[4] === 'Z' ? 0 : (m[5] === '-' ? -1 : 1) * (Number(m[6]) * 3600 + Number(m[7]) * 60);
  return (((local - offset) % 86_400) + 86_400) % 86_400;
}

/**
 * The package prices by `input_tokens` including cache reads and writes, with tiers applying when
 * input exceeds a tier's `start`: the same basis as our `inputTokens` and "smallest bound ≥ input".
 * Its rates are JSON number literals; a few are float renderings of repeating fractions
 * (0.08333333333333334), which have no exact decimal and are rounded to the femto-dollar.
 */
function toModelPrice(prices: PackageModelPrice, source: string): ModelPrice | null {
  const values: [RateField, number | PackageTiered, number][] = [];
  for (const [field, [key, decimals]] of rateEntries) {
    const value = prices[key];
    if (value !== undefined) values.push([field, value as number | PackageTiered, decimals]);
  }
  // Without a text input rate the model is billed in other units (audio hours, images).
  if (prices.input_mtok === undefined) return null;
  const bounds = [...new Set(values.flatMap(([, v]) => (typeof v === 'number' ? [] : v.tiers.map((t) => t.start))))].sort((a, b) => a - b);
  // Only embedding models lack an output rate; they produce no output tokens.
  const ratesIn = (segment: number): Rates => {
    const rates: Partial<Rates> = {};
    for (const [field, value, decimals] of values) rates[field] = femtoRate(rateInSegment(value, segment, bounds), decimals);
    return { ...rates, input: rates.input!, output: rates.output ?? 0n };
  };
  const price: ModelPrice = { ...ratesIn(0), source };
  if (bounds.length > 0) price.tiers = [...bounds, Infinity].map((upToTokens, segment): PriceTier => ({ ...ratesIn(segment), upToTokens }));
  return price;
}

function femtoRate(quote: number, decimals: number): bigint {
  const rate = toScaledInteger(parseDecimal(quote), decimals, true);
  if (rate < 0n) throw new RangeError(`negative price in the package data: ${quote}`);
  return rate;
}

/** Rate in force for inputs in segment `segment` (segment 0: up to the first bound). */
function rateInSegment(value: number | PackageTiered, segment: number, bounds: readonly number[]): number {
  if (typeof value === 'number') return value;
  if (segment === 0) return value.base;
  const lowerBound = bounds[segment - 1]!;
  let rate = value.base;
  for (const tier of value.tiers) if (tier.start <= lowerBound) rate = tier.price;
  return rate;
}
