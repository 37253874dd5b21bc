import { describe, expect, it } from 'vitest';
import type { ProviderType, TokenUsage } from '../../src/providers/types.ts';
import { computeCost } from '../../src/usage/cost.ts';
import { PriceBook } from '../../src/usage/pricing.ts';

// Rates quoted below are USD per million tokens, as read from @pydantic/genai-prices 0.1.8 or
// src/usage/prices.json; "×" lines are the hand computation of the expected strings.

const book = new PriceBook([
  { provider: 'openai', model: 'gpt-4.1', input_per_mtok: '1.9', output_per_mtok: '7.5', per_request: '0.001' },
  { provider: 'anthropic', model: 'claude-sonnet-4-5-eu', input_per_mtok: '3', output_per_mtok: '15', cached_input_per_mtok: '0.3', cache_write_per_mtok: '3.75' },
]);
const noon = new Date('2026-11-20T12:00:00Z');

function usage(u: Partial<TokenUsage>): TokenUsage {
  const inputTokens = u.inputTokens ?? 0;
  const outputTokens = u.outputTokens ?? 0;
  return {
    inputTokens,
    cachedInputTokens: 0,
    cacheWriteInputTokens: 0,
    outputTokens,
    reasoningTokens: 0,
    totalTokens: inputTokens + outputTokens,
    raw: {},
    ...u,
  };
}

function cost(type: ProviderType, model: string, u: Partial<TokenUsage>, at = noon) {
  return computeCost(usage(u), type, model, book.lookup(type, type, model, at));
}

const priced = (input: string, output: string, total: string, caveat = '') => ({
  input_cost: input,
  output_cost: output,
  total_cost: total,
  cost_source: 'model_pricing',
  costs_calculation_caveat: caveat,
});

describe('computeCost from model prices', () => {
  it('prices OpenAI gpt-4o-mini cached tokens at the cached rate', () => {
    // input 0.15, cached 0.075, output 0.6
    // input  4,000 × 0.15 + 8,000 × 0.075 = 600 + 600 = 1,200 µ$ → 0.0012
    // output   800 × 0.6                  = 480 µ$         → 0.00048
    expect(cost('openai', 'gpt-4o-mini', { inputTokens: 12_000, cachedInputTokens: 8_000, outputTokens: 800, raw: { prompt_cached_tokens: 8_000 } }))
      .toEqual(priced('0.0012', '0.00048', '0.00168'));
  });

  it('bills reasoning tokens of an OpenAI reasoning model as output, without a caveat', () => {
    // o4-mini: input 1.1, output 4.4 (no separate reasoning rate)
    // input  2,000 × 1.1 =  2,200 µ$ → 0.0022
    // output 5,000 × 4.4 = 22,000 µ$ → 0.022 (800 answer + 4,200 reasoning)
    expect(cost('openai', 'o4-mini', { inputTokens: 2_000, outputTokens: 5_000, reasoningTokens: 4_200, raw: { completion_reasoning_tokens: 4_200 } }))
      .toEqual(priced('0.0022', '0.022', '0.0242'));
  });

  it('prices Anthropic Claude Sonnet 4.5 cache reads and writes at their rates', () => {
    // ≤200K tier: input 3, cache read 0.3, cache write 3.75, output 15
    // input  1,000 × 3 + 30,000 × 0.3 + 5,000 × 3.75 = 3,000 + 9,000 + 18,750 = 30,750 µ$ → 0.03075
    // output 1,200 × 15 = 18,000 µ$ → 0.018
    const u = {
      inputTokens: 36_000,
      cachedInputTokens: 30_000,
      cacheWriteInputTokens: 5_000,
      outputTokens: 1_200,
      raw: { cache_read_input_tokens: 30_000, cache_creation_input_tokens: 5_000 },
    };
    expect(cost('anthropic', 'claude-sonnet-4-5-20250929', u)).toEqual(priced('0.03075', '0.018', '0.04875'));
  });

  it('prices Gemini 2.5 Flash thought tokens as output and cached content at the cached rate', () => {
    // input 0.3, cached 0.03, output 2.5 (thinking included)
    // input  6,000 × 0.3 + 4,000 × 0.03 = 1,800 + 120 = 1,920 µ$ → 0.00192
    // output 3,000 × 2.5 = 7,500 µ$ → 0.0075
    const u = { inputTokens: 10_000, cachedInputTokens: 4_000, outputTokens: 3_000, reasoningTokens: 2_500, raw: { cached_content_token_count: 4_000, thoughts_token_count: 2_500 } };
    expect(cost('gemini', 'gemini-2.5-flash', u)).toEqual(priced('0.00192', '0.0075', '0.00942'));
  });

  it('applies Gemini 2.5 Pro long-context rates above 200K input tokens only', () => {
    // >200K tier: input 2.5, output 15
    // input  250,000 × 2.5 = 625,000 µ$ → 0.625;  output 2,000 × 15 = 30,000 µ$ → 0.03
    expect(cost('gemini', 'gemini-2.5-pro', { inputTokens: 250_000, outputTokens: 2_000 })).toEqual(priced('0.625', '0.03', '0.655'));
    // exactly 200K stays in the base tier: input 1.25, output 10
    // input  200,000 × 1.25 = 250,000 µ$ → 0.25;  output 2,000 × 10 = 20,000 µ$ → 0.02
    expect(cost('gemini', 'gemini-2.5-pro', { inputTokens: 200_000, outputTokens: 2_000 })).toEqual(priced('0.25', '0.02', '0.27'));
  });

  it('prices DeepSeek cache hits by the time of day', () => {
    const u = { inputTokens: 10_000, cachedInputTokens: 9_000, outputTokens: 500, raw: { prompt_cache_hit_tokens: 9_000, prompt_cache_miss_tokens: 1_000 } };
    // 12:00 UTC is inside the standard-price window (00:30–16:30 UTC): input 0.27, cache hit 0.07, output 1.1
    // input  1,000 × 0.27 + 9,000 × 0.07 = 270 + 630 = 900 µ$ → 0.0009;  output 500 × 1.1 = 550 µ$ → 0.00055
    expect(cost('deepseek', 'deepseek-chat', u, noon)).toEqual(priced('0.0009', '0.00055', '0.00145'));
    // 20:00 UTC is off-peak: input 0.135, cache hit 0.035, output 0.55
    // input  1,000 × 0.135 + 9,000 × 0.035 = 135 + 315 = 450 µ$ → 0.00045;  output 500 × 0.55 = 275 µ$ → 0.000275
    expect(cost('deepseek', 'deepseek-chat', u, new Date('2026-11-20T20:00:00Z'))).toEqual(priced('0.00045', '0.000275', '0.000725'));
  });

  it('prices Groq llama-3.3-70b-versatile', () => {
    // input 0.59, output 0.79: 1,500 × 0.59 = 885 µ$;  300 × 0.79 = 237 µ$
    expect(cost('groq', 'llama-3.3-70b-versatile', { inputTokens: 1_500, outputTokens: 300 })).toEqual(priced('0.000885', '0.000237', '0.001122'));
  });

  it('prices Fireworks models given in the accounts/… form', () => {
    // deepseek-v3p2: input 0.56, cached 0.28, output 1.68
    // input  2,000 × 0.56 + 1,000 × 0.28 = 1,120 + 280 = 1,400 µ$ → 0.0014;  output 700 × 1.68 = 1,176 µ$ → 0.001176
    const u = { inputTokens: 3_000, cachedInputTokens: 1_000, outputTokens: 700, raw: { prompt_cached_tokens: 1_000 } };
    expect(cost('fireworks', 'accounts/fireworks/models/deepseek-v3p2', u)).toEqual(priced('0.0014', '0.001176', '0.002576'));
  });

  it('prices Xiaomi MiMo from our own price file', () => {
    // mimo-v2.5-pro: input 0.435, cached 0.0036, output 0.87
    // input  5,000 × 0.435 + 15,000 × 0.0036 = 2,175 + 54 = 2,229 µ$ → 0.002229;  output 1,000 × 0.87 = 870 µ$ → 0.00087
    const u = { inputTokens: 20_000, cachedInputTokens: 15_000, outputTokens: 1_000, raw: { prompt_cached_tokens: 15_000 } };
    expect(cost('xiaomi', 'mimo-v2.5-pro', u)).toEqual(priced('0.002229', '0.00087', '0.003099'));
  });

  it('prices Bailian qwen-plus thinking output from our own price file, tier by input size', () => {
    // >256K tier: input 1.2, output 3.6, thinking output 12
    // input  300,000 × 1.2 = 360,000 µ$ → 0.36
    // output 500 × 3.6 + 1,500 × 12 = 1,800 + 18,000 = 19,800 µ$ → 0.0198
    const u = { inputTokens: 300_000, outputTokens: 2_000, reasoningTokens: 1_500, raw: { completion_reasoning_tokens: 1_500 } };
    expect(cost('bailian', 'qwen-plus', u)).toEqual(priced('0.36', '0.0198', '0.3798'));
  });

  it('prices Ollama at zero, a known price', () => {
    expect(cost('ollama', 'llama3.2:3b', { inputTokens: 5_000, outputTokens: 900 })).toEqual(priced('0', '0', '0'));
  });

  it('adds an operator per-request fee to the output cost', () => {
    // override gpt-4.1: input 1.9, output 7.5, $0.001 per request
    // input  1,000 × 1.9 = 1,900 µ$ → 0.0019;  output 100 × 7.5 = 750 µ$ + 1,000 µ$ fee → 0.00175
    expect(cost('openai', 'gpt-4.1', { inputTokens: 1_000, outputTokens: 100 })).toEqual(priced('0.0019', '0.00175', '0.00365'));
  });

  it('prices Anthropic one-hour cache writes at their own rate and the rest of the writes at the five-minute rate', () => {
    // claude-sonnet-4-5 ≤200K: input 3, cache write 3.75, 1h cache write 6, output 15
    // input  36 × 3 + 2,048 × 3.75 + 10,240 × 6 = 108 + 7,680 + 61,440 = 69,228 µ$;  output 27 × 15 = 405 µ$
    const u = { inputTokens: 12_324, cacheWriteInputTokens: 12_288, outputTokens: 27, detail: { cacheWrite1hInputTokens: 10_240 } };
    expect(cost('anthropic', 'claude-sonnet-4-5-20250929', u)).toEqual(priced('0.069228', '0.000405', '0.069633'));
  });

  it('charges Anthropic web searches at $10 per thousand, with the output', () => {
    // input 18,420 × 3 = 55,260 µ$;  output 512 × 15 + 2 × 10,000 = 7,680 + 20,000 = 27,680 µ$
    const u = { inputTokens: 18_420, outputTokens: 512, detail: { webSearches: 2 } };
    expect(cost('anthropic', 'claude-sonnet-4-5-20250929', u)).toEqual(priced('0.05526', '0.02768', '0.08294'));
  });

  it('prices Gemini 2.5 Flash audio, cached audio, cached text and text input each at its rate', () => {
    // input 0.3, audio 1, cached 0.03, cached audio 0.1, output 2.5
    // cached audio 8,448 × 0.1 = 844.8;  other cached 768 × 0.03 = 23.04;  other audio 1,152 × 1 = 1,152
    // the rest 10,880 − 8,448 − 768 − 1,152 = 512 × 0.3 = 153.6  → 2,173.44 µ$;  output 592 × 2.5 = 1,480 µ$
    const u = { inputTokens: 10_880, cachedInputTokens: 9_216, outputTokens: 592, reasoningTokens: 380, detail: { audioInputTokens: 9_600, cachedAudioInputTokens: 8_448 } };
    expect(cost('gemini', 'gemini-2.5-flash', u)).toEqual(priced('0.00217344', '0.00148', '0.00365344'));
  });

  it('prices Gemini image output at the image rate and the rest of the output at the text rate', () => {
    // gemini-2.5-flash-image: input 0.3, output 2.5, image output 30
    // input 18 × 0.3 = 5.4 µ$;  output 1,290 × 30 + 10 × 2.5 = 38,700 + 25 = 38,725 µ$
    const u = { inputTokens: 18, outputTokens: 1_300, detail: { imageOutputTokens: 1_290 } };
    expect(cost('gemini', 'gemini-2.5-flash-image', u)).toEqual(priced('0.0000054', '0.038725', '0.0387304'));
  });

  it('writes the exact cost of a single token', () => {
    // gpt-4o-mini input 0.15 → 1 token = 0.00000015 USD
    expect(cost('openai', 'gpt-4o-mini', { inputTokens: 1 })).toEqual(priced('0.00000015', '0', '0.00000015'));
  });
});

describe('computeCost caveats', () => {
  it('prices cached tokens at the input rate when the cached rate is unknown, and says so', () => {
    // Groq llama-3.3-70b-versatile has no cached rate: 1,500 × 0.59 = 885 µ$
    const u = { inputTokens: 1_500, cachedInputTokens: 500, outputTokens: 300, raw: { prompt_cached_tokens: 500 } };
    expect(cost('groq', 'llama-3.3-70b-versatile', u)).toEqual(
      priced('0.000885', '0.000237', '0.001122', 'no cached-input price: cached-input tokens priced as input'),
    );
  });

  it('prices cache writes at the input rate when the write rate is unknown, and says so', () => {
    // gpt-4o-mini has no cache-write rate: 1,000 × 0.15 = 150 µ$
    expect(cost('openai', 'gpt-4o-mini', { inputTokens: 1_000, cacheWriteInputTokens: 400 })).toEqual(
      priced('0.00015', '0', '0.00015', 'no cache-write price: cache-write tokens priced as input'),
    );
  });

  it('flags positive raw token counts it does not price, sorted, and ignores informational ones', () => {
    // gpt-4o-mini: 1,000 × 0.15 = 150 µ$;  10 × 0.6 = 6 µ$
    const u = {
      inputTokens: 1_000,
      outputTokens: 10,
      raw: { prompt_hologram_tokens: 50, completion_smell_tokens: 10, prompt_text_tokens: 950, prompt_image_tokens: 0, image_count: 0, is_byok: false },
    };
    expect(cost('openai', 'gpt-4o-mini', u)).toEqual(
      priced('0.00015', '0.000006', '0.000156', 'unmapped token field: completion_smell_tokens; unmapped token field: prompt_hologram_tokens'),
    );
  });

  it('prices audio at the text rates of a model without audio rates, and says so', () => {
    // gpt-4o-mini has no audio rates: 1,000 × 0.15 = 150 µ$;  10 × 0.6 = 6 µ$
    const u = { inputTokens: 1_000, outputTokens: 10, detail: { audioInputTokens: 50, audioOutputTokens: 10 }, raw: { prompt_audio_tokens: 50, completion_audio_tokens: 10 } };
    expect(cost('openai', 'gpt-4o-mini', u)).toEqual(
      priced('0.00015', '0.000006', '0.000156', 'no audio-input price: audio-input tokens priced as input; no audio-output price: audio-output tokens priced as output'),
    );
  });

  it('charges nothing for web searches a model has no search price for, and says so', () => {
    // claude-3-haiku: input 0.25, output 1.25: 1,000 × 0.25 = 250 µ$;  100 × 1.25 = 125 µ$
    const u = { inputTokens: 1_000, outputTokens: 100, detail: { webSearches: 3 }, raw: { server_tool_use_web_search_requests: 3 } };
    expect(cost('anthropic', 'claude-3-haiku-20240307', u)).toEqual(priced('0.00025', '0.000125', '0.000375', 'no web-search price: not charged'));
  });

  it('prices one-hour cache writes at the cache-write rate when the price has no one-hour rate, and says so', () => {
    // override: input 3, cache write 3.75, output 15
    // input  100 × 3 + 1,000 × 3.75 = 300 + 3,750 = 4,050 µ$;  output 10 × 15 = 150 µ$
    const u = { inputTokens: 1_100, cacheWriteInputTokens: 1_000, outputTokens: 10, detail: { cacheWrite1hInputTokens: 600 } };
    expect(cost('anthropic', 'claude-sonnet-4-5-eu', u)).toEqual(
      priced('0.00405', '0.00015', '0.0042', 'no 1h cache-write price: 1h cache-write tokens priced as cache-write'),
    );
  });

  it('counts as little cached audio as the counts allow when the reply does not say how much of the cache was audio', () => {
    // gemini-2.5-flash: input 0.3, audio 1, cached 0.03, cached audio 0.1, output 2.5
    const caveat = 'cached audio-input tokens not reported: counted as few as the other counts allow';
    // 600 cached + 900 audio in 1,000 input: at least 500 cached audio
    // input  500 × 0.1 + 100 × 0.03 + 400 × 1 + 0 × 0.3 = 50 + 3 + 400 = 453 µ$;  output 5 × 2.5 = 12.5 µ$
    const overlapping = { inputTokens: 1_000, cachedInputTokens: 600, outputTokens: 5, detail: { audioInputTokens: 900 } };
    expect(cost('gemini', 'gemini-2.5-flash', overlapping)).toEqual(priced('0.000453', '0.0000125', '0.0004655', caveat));
    // 300 cached + 500 audio in 1,000 input: possibly none
    // input  300 × 0.03 + 500 × 1 + 200 × 0.3 = 9 + 500 + 60 = 569 µ$
    const apart = { inputTokens: 1_000, cachedInputTokens: 300, outputTokens: 5, detail: { audioInputTokens: 500 } };
    expect(cost('gemini', 'gemini-2.5-flash', apart)).toEqual(priced('0.000569', '0.0000125', '0.0005815', caveat));
  });

  it('returns null costs and a caveat when no price is known', () => {
    expect(cost('openai', 'gpt-unknown-9', { inputTokens: 10, outputTokens: 10 })).toEqual({
      input_cost: null,
      output_cost: null,
      total_cost: null,
      cost_source: '',
      costs_calculation_caveat: 'no price for openai/gpt-unknown-9',
    });
  });
});

describe('computeCost from provider-reported costs', () => {
  const openRouter = (raw: TokenUsage['raw']) =>
    computeCost(usage({ inputTokens: 1_000, outputTokens: 100, raw }), 'openrouter', 'anthropic/claude-sonnet-4.5', book.lookup('openrouter', 'openrouter', 'anthropic/claude-sonnet-4.5'));

  it('uses OpenRouter credits and a split that adds up exactly', () => {
    // 0.0003 + 0.00093 = 0.00123 exactly (as floats it would be 0.0012300000000000002)
    const raw = { cost: 0.00123, cost_details: { upstream_inference_prompt_cost: 0.0003, upstream_inference_completions_cost: 0.00093 } };
    expect(openRouter(raw)).toEqual({ input_cost: '0.0003', output_cost: '0.00093', total_cost: '0.00123', cost_source: 'openrouter_credits', costs_calculation_caveat: '' });
  });

  it('drops an OpenRouter split that does not add up to the total', () => {
    // 0.0004 + 0.00093 = 0.00133 ≠ 0.00123
    const raw = { cost: 0.00123, cost_details: { upstream_inference_prompt_cost: 0.0004, upstream_inference_completions_cost: 0.00093 } };
    expect(openRouter(raw)).toEqual({ input_cost: null, output_cost: null, total_cost: '0.00123', cost_source: 'openrouter_credits', costs_calculation_caveat: '' });
  });

  it('writes tiny OpenRouter costs without an exponent', () => {
    expect(openRouter({ cost: 1.5e-7 }).total_cost).toBe('0.00000015');
  });

  it('falls back to model pricing when OpenRouter reports no usable cost', () => {
    // claude-sonnet-4.5 on OpenRouter: 1,000 × 3 = 3,000 µ$;  100 × 15 = 1,500 µ$
    expect(openRouter({ cost: -1 })).toEqual(priced('0.003', '0.0015', '0.0045'));
  });

  it('uses xAI ticks of 1e-10 USD', () => {
    // 158,500,000 ticks / 1e10 = 0.01585 USD
    const u = usage({ inputTokens: 1_000, outputTokens: 100, raw: { cost_in_usd_ticks: 158_500_000 } });
    expect(computeCost(u, 'xai', 'grok-4', book.lookup('xai', 'xai', 'grok-4'))).toEqual({
      input_cost: null,
      output_cost: null,
      total_cost: '0.01585',
      cost_source: 'xai_cost_in_usd_ticks',
      costs_calculation_caveat: '',
    });
  });

  it('prices xAI from its model price when it reports no ticks', () => {
    // grok-4 (grok-4-0709): input 3, output 15: 1,000 × 3 = 3,000 µ$;  100 × 15 = 1,500 µ$
    expect(cost('xai', 'grok-4', { inputTokens: 1_000, outputTokens: 100 })).toEqual(priced('0.003', '0.0015', '0.0045'));
  });
});
