import type { Json, ProviderType, TokenUsage } from '../providers/types.ts';
import { addDecimals, decimalsEqual, formatScaled, parseDecimal, type Decimal } from './decimal.ts';
import { dimensionCost } from './dimensions.ts';
import { FEMTO_USD_DECIMALS, tierFor, type ModelPrice } from './model-price.ts';

/** The cost columns of a usage row. Costs are exact decimal USD; null means unknown. */
export interface Cost {
  input_cost: string | null;
  output_cost: string | null;
  total_cost: string | null;
  /** `openrouter_credits`, `xai_cost_in_usd_ticks`, `model_pricing`, or '' when there is no cost. */
  cost_source: string;
  /** '' when fully priced, else sorted notes joined with '; '. */
  costs_calculation_caveat: string;
}

/** xAI reports cost in ticks of 1e-10 USD. */
const XAI_TICK_DECIMALS = 10;

/**
 * Raw usage keys whose tokens the normalised counts already place: the totals themselves, cache
 * reads and writes inside `inputTokens`, reasoning inside `outputTokens`, and the parts `detail`
 * holds (audio, image and video tokens, one-hour cache writes), each at its own rate.
 */
const accountedTokenFields = new Set([
  'prompt_tokens',
  'completion_tokens',
  'input_tokens',
  'output_tokens',
  'total_tokens',
  'prompt_token_count',
  'candidates_token_count',
  'total_token_count',
  'cached_tokens',
  'prompt_cached_tokens',
  'prompt_cache_hit_tokens',
  'cache_read_input_tokens',
  'cached_content_token_count',
  'cache_creation_input_tokens',
  'cache_creation_ephemeral_5m_input_tokens',
  'cache_creation_ephemeral_1h_input_tokens',
  'cache_write_input_tokens',
  'prompt_cache_write_tokens',
  'prompt_cache_creation_input_tokens',
  'reasoning_tokens',
  'completion_reasoning_tokens',
  'output_tokens_details_thinking_tokens',
  'thought_tokens',
  'thoughts_token_count',
  'prompt_audio_tokens',
  'prompt_image_tokens',
  'prompt_video_tokens',
  'completion_audio_tokens',
  'completion_image_tokens',
]);

/** Gemini's per-modality counts of the prompt, tool-use prompt, cache and candidates. */
const accountedGeminiModality = /^(prompt|tool_use_prompt|cache|candidates)_(audio|image|video|document)_token_count$/;

/**
 * Raw usage keys that only break down tokens already billed at the ordinary rate (the original
 * gateway's list).
 */
const informationalTokenFields = new Set([
  'prompt_cache_miss_tokens',
  'prompt_text_tokens',
  'completion_text_tokens',
  'tool_use_prompt_token_count',
  'completion_accepted_prediction_tokens',
  'completion_rejected_prediction_tokens',
]);

/**
 * The cost of one request (the original gateway's `CalculateUsageCost`, on our normalised usage):
 * OpenRouter's reported credits, else xAI's reported ticks, else token counts × `price`.
 */
export function computeCost(usage: TokenUsage, providerType: ProviderType, model: string, price: ModelPrice | null): Cost {
  if (providerType === 'openrouter') {
    const reported = openRouterCost(usage.raw);
    if (reported) return reported;
  }
  if (providerType === 'xai') {
    const ticks = usage.raw.cost_in_usd_ticks;
    if (typeof ticks === 'number' && Number.isSafeInteger(ticks) && ticks >= 0) {
      const total = formatScaled(BigInt(ticks), XAI_TICK_DECIMALS);
      return { input_cost: null, output_cost: null, total_cost: total, cost_source: 'xai_cost_in_usd_ticks', costs_calculation_caveat: '' };
    }
  }
  if (!price) {
    return { input_cost: null, output_cost: null, total_cost: null, cost_source: '', costs_calculation_caveat: `no price for ${providerType}/${model}` };
  }
  return modelPricingCost(usage, price);
}

function openRouterCost(raw: Record<string, Json>): Cost | null {
  const cost = raw.cost;
  if (typeof cost !== 'number' || !Number.isFinite(cost) || cost < 0) return null;
  const total = parseDecimal(cost);
  const details = raw.cost_details;
  let input: Decimal | null = null;
  let output: Decimal | null = null;
  if (details && typeof details === 'object' && !Array.isArray(details)) {
    const prompt = details.upstream_inference_prompt_cost;
    const completions = details.upstream_inference_completions_cost;
    if (typeof prompt === 'number' && typeof completions === 'number' && Number.isFinite(prompt) && Number.isFinite(completions)) {
      const p = parseDecimal(prompt);
      const c = parseDecimal(completions);
      if (decimalsEqual(addDecimals(p, c), total)) [input, output] = [p, c];
    }
  }
  return {
    input_cost: input && format(input),
    output_cost: output && format(output),
    total_cost: format(total),
    cost_source: 'openrouter_credits',
    costs_calculation_caveat: '',
  };
}

function modelPricingCost(usage: TokenUsage, price: ModelPrice): Cost {
  const rates = (price.tiers && tierFor(price.tiers, usage.inputTokens)) ?? price;
  const { input, output, caveats } = dimensionCost(usage, rates);
  const outputCost = output + (price.perRequest ?? 0n);
  return {
    input_cost: formatScaled(input, FEMTO_USD_DECIMALS),
    output_cost: formatScaled(outputCost, FEMTO_USD_DECIMALS),
    total_cost: formatScaled(input + outputCost, FEMTO_USD_DECIMALS),
    cost_source: 'model_pricing',
    costs_calculation_caveat: [...caveats, ...unmappedTokenCaveats(usage.raw)].sort().join('; '),
  };
}

/** Caveats for raw `*_tokens` / `*_count` keys with a positive count that nothing above prices or explains. */
function unmappedTokenCaveats(raw: Record<string, Json>): string[] {
  const caveats: string[] = [];
  for (const key in raw) {
    const value = raw[key];
    if (typeof value !== 'number' || !(value > 0) || !(key.endsWith('_tokens') || key.endsWith('_count'))) continue;
    if (!accountedTokenFields.has(key) && !informationalTokenFields.has(key) && !accountedGeminiModality.test(key)) caveats.push(`unmapped token field: ${key}`);
  }
  return caveats;
}

function format(d: Decimal): string {
  return formatScaled(d.units, d.scale);
}
