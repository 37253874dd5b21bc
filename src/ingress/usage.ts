import { fromAnthropicUsage } from '../providers/anthropic.ts';
import { fromGeminiUsage, type GeminiUsageMetadata } from '../providers/gemini.ts';
import { fromOpenAiUsage, openAiQuirks, type OpenAiCompatibleType } from '../providers/openai-compatible.ts';
import type { ProviderType, TokenUsage } from '../providers/types.ts';
import type { Obj } from './types.ts';

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const responsesCounts = new Set(['input_tokens', 'output_tokens', 'total_tokens', 'input_tokens_details', 'output_tokens_details']);

/**
 * A Responses API `usage` (`input_tokens`, `input_tokens_details.cached_tokens`, `output_tokens`,
 * `output_tokens_details.reasoning_tokens`) normalised as chat usage is, so its details land in
 * `raw_data` under the same names (`prompt_cached_tokens`, `completion_reasoning_tokens`) and
 * provider extras (OpenRouter's `cost`, xAI's `cost_in_usd_ticks`) are kept.
 */
export function fromResponsesUsage(u: unknown): TokenUsage | null {
  if (!isObj(u)) return null;
  const chat: Obj = {
    prompt_tokens: u.input_tokens,
    completion_tokens: u.output_tokens,
    total_tokens: u.total_tokens,
    prompt_tokens_details: u.input_tokens_details,
    completion_tokens_details: u.output_tokens_details,
  };
  for (const k in u) if (!responsesCounts.has(k)) chat[k] = u[k];
  return fromOpenAiUsage(chat, {});
}

export const toResponsesUsage = (u: TokenUsage) => ({
  input_tokens: u.inputTokens,
  input_tokens_details: { cached_tokens: u.cachedInputTokens },
  output_tokens: u.outputTokens,
  output_tokens_details: { reasoning_tokens: u.reasoningTokens },
  total_tokens: u.totalTokens,
});

/** Anthropic counts cache reads and writes apart from `input_tokens`. */
export const toMessagesUsage = (u: TokenUsage) => ({
  input_tokens: Math.max(0, u.inputTokens - u.cachedInputTokens - u.cacheWriteInputTokens),
  cache_creation_input_tokens: u.cacheWriteInputTokens,
  cache_read_input_tokens: u.cachedInputTokens,
  output_tokens: u.outputTokens,
});

/**
 * Usage in any shape the gateway knows, for passthrough replies and events: chat completions
 * (`usage.prompt_tokens`), Responses (`usage.input_tokens`, or under `response` in its stream
 * events), Anthropic (`usage` with cache fields, or under `message` in `message_start`) and Gemini
 * (`usageMetadata`). Anthropic's counts come in two events; `anthropicSoFar` carries the first.
 */
export function usageOfKnownShape(json: unknown, type: ProviderType, anthropicSoFar?: Obj): TokenUsage | null {
  if (!isObj(json)) return null;
  if (isObj(json.usageMetadata)) return fromGeminiUsage(json.usageMetadata as GeminiUsageMetadata);
  const nested = isObj(json.response) ? json.response.usage : isObj(json.message) ? json.message.usage : undefined;
  const u = isObj(json.usage) ? json.usage : nested;
  if (!isObj(u)) return null;
  if (typeof u.prompt_tokens === 'number') {
    const quirks = type === 'anthropic' || type === 'gemini' ? {} : openAiQuirks[type as OpenAiCompatibleType];
    return fromOpenAiUsage(u, quirks);
  }
  const anthropic = type === 'anthropic' || json.type === 'message' || json.type === 'message_start' || json.type === 'message_delta' || 'cache_read_input_tokens' in u;
  if (anthropic) {
    const merged = anthropicSoFar ?? {};
    for (const k in u) if (u[k] !== null && u[k] !== undefined) merged[k] = u[k];
    return fromAnthropicUsage(merged);
  }
  return typeof u.input_tokens === 'number' || typeof u.output_tokens === 'number' ? fromResponsesUsage(u) : null;
}
