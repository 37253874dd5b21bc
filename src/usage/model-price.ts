import type { PriceFields, TierFields } from '../config.ts';
import { parseDecimal, toScaledInteger } from './decimal.ts';

/**
 * Prices are held as integer femto-dollars (1e-15 USD): per token for token rates, per request for
 * flat fees. A rate of X USD per million tokens is X × 1e9 femto-dollars per token, so any rate
 * quoted with up to 9 decimal places is exact and `tokens × rate` never rounds.
 */
export const FEMTO_USD_DECIMALS = 15;
const PER_MTOK_DECIMALS = 9;

/**
 * A model's rates in femto-dollars: per token, except `webSearch` (per search). Every rate but
 * `input` and `output` is optional; a part of the usage without a rate of its own is billed at the
 * rate of the part it belongs to (cached audio input at the audio-input rate, failing that at the
 * cached-input rate, failing both at the input rate), as @pydantic/genai-prices bills it.
 */
export interface Rates {
  input: bigint;
  output: bigint;
  /** Input tokens read from the prompt cache. */
  cachedInput?: bigint;
  /** Input tokens written to the prompt cache (Anthropic: for five minutes). */
  cacheWrite?: bigint;
  /** Input tokens written to the prompt cache for an hour (Anthropic). */
  cacheWrite1h?: bigint;
  /** Reasoning output tokens; absent: billed as ordinary output, which is how most providers bill them. */
  reasoningOutput?: bigint;
  audioInput?: bigint;
  cachedAudioInput?: bigint;
  imageInput?: bigint;
  cachedImageInput?: bigint;
  videoInput?: bigint;
  audioOutput?: bigint;
  imageOutput?: bigint;
  videoOutput?: bigint;
  /** Per server-side web search the provider ran. */
  webSearch?: bigint;
}

export type RateField = keyof Rates;

/**
 * Rates in force when a request's input size falls in this tier: complete (a rate the tier itself
 * does not change is copied from the base price when the price is built).
 */
export interface PriceTier extends Rates {
  /** Inclusive upper bound on the request's total input tokens; the last tier may be `Infinity`. */
  upToTokens: number;
}

/** A model's prices. */
export interface ModelPrice extends Rates {
  /** Flat fee per request, femto-dollars. */
  perRequest?: bigint;
  /** Tiers by input size, ascending `upToTokens`. */
  tiers?: PriceTier[];
  /** Where the price comes from (an operator override, a URL, the package's provider/model). */
  source: string;
}

/** Femto-dollars per token from a USD-per-million-tokens decimal; throws unless exact. */
export function ratePerMTok(usdPerMTok: number | string, round = false): bigint {
  const rate = toScaledInteger(parseDecimal(usdPerMTok), PER_MTOK_DECIMALS, round);
  if (rate < 0n) throw new RangeError(`negative price: ${usdPerMTok}`);
  return rate;
}

/** Femto-dollars from a USD decimal (a per-request fee); throws unless exact. */
export function femtoUsd(usd: number | string): bigint {
  const amount = toScaledInteger(parseDecimal(usd), FEMTO_USD_DECIMALS);
  if (amount < 0n) throw new RangeError(`negative price: ${usd}`);
  return amount;
}

/** Tier for a request with `inputTokens` input: the smallest bound ≥ it, else the largest tier. */
export function tierFor(tiers: readonly PriceTier[], inputTokens: number): PriceTier | undefined {
  return tiers.find((t) => t.upToTokens >= inputTokens) ?? tiers[tiers.length - 1];
}

/** Price rules active during part of the time; the package uses them for launch dates and off-peak hours. */
export type PriceConstraint =
  | { kind: 'from'; startMs: number }
  /** UTC seconds of the day; `endSec < startSec` wraps past midnight. */
  | { kind: 'daily'; startSec: number; endSec: number };

export interface ScheduledPrice {
  constraint?: PriceConstraint;
  price: ModelPrice;
}

/**
 * A model's prices over time, in the package's order: the first entry is the default, and the
 * last entry whose constraint holds wins.
 */
export type PriceSchedule = readonly ScheduledPrice[];

export function priceAt(schedule: PriceSchedule, at: Date): ModelPrice | null {
  const ms = at.getTime();
  const secondOfDay = (((ms / 1000) % 86_400) + 86_400) % 86_400;
  for (let i = schedule.length - 1; i >= 0; i--) {
    const { constraint, price } = schedule[i]!;
    if (!constraint) return price;
    if (constraint.kind === 'from' ? ms >= constraint.startMs : inDailyWindow(constraint, secondOfDay)) return price;
  }
  return schedule[0]?.price ?? null;
}

function inDailyWindow(c: { startSec: number; endSec: number }, second: number): boolean {
  return c.endSec < c.startSec ? second >= c.startSec || second < c.endSec : second >= c.startSec && second < c.endSec;
}

/** Converts exactly; throws on a malformed, negative or over-precise rate. */
export function priceFromFields(fields: PriceFields, source: string): ModelPrice {
  const base = optionalRates(fields);
  const price: ModelPrice = { ...base, input: ratePerMTok(fields.input_per_mtok), output: ratePerMTok(fields.output_per_mtok), source };
  if (fields.per_request !== undefined) price.perRequest = femtoUsd(fields.per_request);
  if (fields.tiers?.length) {
    price.tiers = fields.tiers
      .map((t): PriceTier => {
        if (!Number.isSafeInteger(t.up_to_tokens) || t.up_to_tokens <= 0) throw new RangeError(`bad up_to_tokens: ${t.up_to_tokens}`);
        return { ...base, ...optionalRates(t), upToTokens: t.up_to_tokens, input: ratePerMTok(t.input_per_mtok), output: ratePerMTok(t.output_per_mtok) };
      })
      .sort((a, b) => a.upToTokens - b.upToTokens);
  }
  return price;
}

function optionalRates(f: Omit<TierFields, 'up_to_tokens'>): Pick<Rates, 'cachedInput' | 'cacheWrite' | 'reasoningOutput'> {
  const rates: Pick<Rates, 'cachedInput' | 'cacheWrite' | 'reasoningOutput'> = {};
  if (f.cached_input_per_mtok !== undefined) rates.cachedInput = ratePerMTok(f.cached_input_per_mtok);
  if (f.cache_write_per_mtok !== undefined) rates.cacheWrite = ratePerMTok(f.cache_write_per_mtok);
  if (f.reasoning_output_per_mtok !== undefined) rates.reasoningOutput = ratePerMTok(f.reasoning_output_per_mtok);
  return rates;
}
