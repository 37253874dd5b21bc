import { Redactor } from '../redact.ts';
import { unusableReply, upstreamError } from './errors.ts';
import { requestJson } from './request-json.ts';
import type { ChatContext, Json, ProviderAdapter, ProviderConfig, ProviderType, StreamTranslator, TokenUsage, UpstreamRequest, UsageDetail } from './types.ts';

/** What makes an OpenAI-compatible provider differ from OpenAI: data, not subclasses. */
export interface OpenAiQuirks {
  /** Accepts `stream_options.include_usage` (otherwise streams end without usage, or report it unasked). */
  streamUsage: boolean;
  /** Serves `/embeddings`. */
  embeddings: boolean;
  /** Serves the Responses API at `/responses` (its documentation says so). */
  responses?: boolean;
  /** Reports reasoning tokens outside `completion_tokens` (xAI). */
  reasoningOutsideCompletion?: boolean;
  /** Models that reject `max_tokens` and want `max_completion_tokens` (OpenAI reasoning models). */
  maxCompletionTokensModels?: RegExp;
}

export type OpenAiCompatibleType = Exclude<ProviderType, 'anthropic' | 'gemini'>;

export const openAiQuirks: Record<OpenAiCompatibleType, OpenAiQuirks> = {
  openai: { streamUsage: true, embeddings: true, responses: true, maxCompletionTokensModels: /^(o\d|gpt-5)/ },
  groq: { streamUsage: true, embeddings: false },
  fireworks: { streamUsage: true, embeddings: true },
  // OpenRouter reports usage, with its exact charge (`usage.cost`), on every reply.
  openrouter: { streamUsage: false, embeddings: true, responses: true },
  deepseek: { streamUsage: true, embeddings: false },
  // Z.ai puts usage in the last chunk of every stream and has no stream_options.
  zai: { streamUsage: false, embeddings: true },
  xai: { streamUsage: true, embeddings: false, responses: true, reasoningOutsideCompletion: true },
  minimax: { streamUsage: true, embeddings: false },
  xiaomi: { streamUsage: true, embeddings: false },
  opencode_go: { streamUsage: true, embeddings: false },
  oracle: { streamUsage: true, embeddings: true },
  ollama: { streamUsage: true, embeddings: true },
  bailian: { streamUsage: true, embeddings: true },
};

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const usageField = /"usage"\s*:\s*\{/;
const dig = (o: Record<string, unknown>, group: string, key: string): unknown => (isObject(o[group]) ? o[group][key] : undefined);

/** Where OpenAI-style usage reports the parts `detail` holds. */
const detailPaths = [
  ['audioInputTokens', 'prompt_tokens_details', 'audio_tokens'],
  ['imageInputTokens', 'prompt_tokens_details', 'image_tokens'],
  ['videoInputTokens', 'prompt_tokens_details', 'video_tokens'],
  ['audioOutputTokens', 'completion_tokens_details', 'audio_tokens'],
  ['imageOutputTokens', 'completion_tokens_details', 'image_tokens'],
  ['webSearches', 'server_tool_use', 'web_search_requests'],
] as const satisfies readonly (readonly [keyof UsageDetail, string, string])[];

/**
 * Normalises an OpenAI-style `usage` object. Details are flattened into `raw` with the original
 * gateway's names (`prompt_cached_tokens`, `completion_reasoning_tokens`, …); provider extras such
 * as DeepSeek's `prompt_cache_hit_tokens`, OpenRouter's `cost` or xAI's `cost_in_usd_ticks` are kept.
 * Audio, image and video tokens (OpenAI's audio models, xAI, OpenRouter) and OpenRouter's web
 * searches are also read into `detail`, for the models that price them apart.
 */
export function fromOpenAiUsage(u: unknown, quirks: Pick<OpenAiQuirks, 'reasoningOutsideCompletion'>): TokenUsage | null {
  if (!isObject(u)) return null;
  const prompt = isObject(u.prompt_tokens_details) ? u.prompt_tokens_details : {};
  const completion = isObject(u.completion_tokens_details) ? u.completion_tokens_details : {};
  const raw: Record<string, Json> = {};
  for (const k in prompt) if (typeof prompt[k] === 'number' && prompt[k] > 0) raw[`prompt_${k}`] = prompt[k];
  for (const k in completion) if (typeof completion[k] === 'number' && completion[k] > 0) raw[`completion_${k}`] = completion[k];
  for (const k in u) {
    if (k === 'prompt_tokens' || k === 'completion_tokens' || k === 'total_tokens' || (k.endsWith('_details') && k !== 'cost_details')) continue;
    const v = u[k];
    if (typeof v === 'number' || typeof v === 'boolean' || isObject(v)) raw[k] = v as Json;
  }
  const inputTokens = num(u.prompt_tokens);
  const reasoningTokens = num(completion.reasoning_tokens);
  const outputTokens = num(u.completion_tokens) + (quirks.reasoningOutsideCompletion ? reasoningTokens : 0);
  const detail: UsageDetail = {};
  for (const [field, group, key] of detailPaths) {
    const count = num(dig(u, group, key));
    if (count > 0) detail[field] = count;
  }
  return {
    inputTokens,
    cachedInputTokens: Math.min(inputTokens, Math.max(num(prompt.cached_tokens), num(u.prompt_cache_hit_tokens))),
    cacheWriteInputTokens: num(prompt.cache_write_tokens) || num(prompt.cache_creation_input_tokens),
    outputTokens,
    reasoningTokens,
    totalTokens: num(u.total_tokens) || inputTokens + outputTokens,
    ...(Object.keys(detail).length > 0 && { detail }),
    raw,
  };
}

/**
 * An adapter for a provider that speaks the OpenAI API; responses and stream events pass through
 * unchanged. `redactor` scrubs its error replies (the gateway passes one holding every configured secret).
 */
export function createOpenAiCompatibleAdapter(
  config: ProviderConfig,
  quirks: OpenAiQuirks,
  extraHeaders: Record<string, string> = {},
  redactor = new Redactor([config.apiKey]),
): ProviderAdapter {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...extraHeaders };
  if (config.apiKey) headers.authorization = `Bearer ${config.apiKey}`;
  const getHeaders: Record<string, string> = { ...headers };
  delete getHeaders['content-type'];

  const authHeaders: Record<string, string> = { ...extraHeaders };
  if (config.apiKey) authHeaders.authorization = `Bearer ${config.apiKey}`;

  return {
    config,
    nativeApis: quirks.responses ? ['responses'] : [],
    authHeaders,

    chatRequest(body, ctx: ChatContext): UpstreamRequest {
      const renameMaxTokens = quirks.maxCompletionTokensModels?.test(ctx.model) && body.max_tokens != null && body.max_completion_tokens == null;
      const askUsage = ctx.stream && ctx.includeUsage && quirks.streamUsage && !(isObject(body.stream_options) && body.stream_options.include_usage === true);
      // Most requests need no change: forward the client's bytes instead of serialising again.
      if (ctx.raw && body.model === ctx.model && body.provider === undefined && !renameMaxTokens && !askUsage) {
        return { method: 'POST', path: '/chat/completions', headers, body: ctx.raw };
      }
      body.model = ctx.model;
      delete body.provider;
      if (renameMaxTokens) {
        body.max_completion_tokens = body.max_tokens;
        delete body.max_tokens;
      }
      if (askUsage) body.stream_options = { ...(isObject(body.stream_options) ? body.stream_options : {}), include_usage: true };
      return { method: 'POST', path: '/chat/completions', headers, body: requestJson(body) };
    },

    chatResponse(json) {
      if (!isObject(json) || !Array.isArray(json.choices)) throw unusableReply(config.name, 'not a chat completion');
      return {
        response: null,
        usage: fromOpenAiUsage(json.usage, quirks),
        id: typeof json.id === 'string' ? json.id : '',
        model: typeof json.model === 'string' ? json.model : '',
      };
    },

    chatStream(): StreamTranslator {
      let id = '';
      let model = '';
      return {
        get id() {
          return id;
        },
        get model() {
          return model;
        },
        event(ev) {
          // Parse only what is needed: the first event (id, model), usage-bearing and error events.
          if (ev.data === '[DONE]' || (id && !usageField.test(ev.data) && !ev.data.includes('"error"'))) return { chunks: 'passthrough' };
          let json: unknown;
          try {
            json = JSON.parse(ev.data);
          } catch {
            return { chunks: 'passthrough' };
          }
          if (!isObject(json)) return { chunks: 'passthrough' };
          if (isObject(json.error)) return { chunks: [], error: upstreamError(config.name, redactor, 502, ev.data) };
          if (!id && typeof json.id === 'string') id = json.id;
          if (!model && typeof json.model === 'string') model = json.model;
          const usage = fromOpenAiUsage(json.usage, quirks);
          return usage ? { chunks: 'passthrough', usage } : { chunks: 'passthrough' };
        },
      };
    },

    ...(quirks.embeddings
      ? {
          embeddingsRequest(body: Record<string, unknown>, model: string): UpstreamRequest {
            body.model = model;
            delete body.provider;
            return { method: 'POST', path: '/embeddings', headers, body: requestJson(body) };
          },
          embeddingsResponse(json: unknown) {
            if (!isObject(json) || !Array.isArray(json.data)) throw unusableReply(config.name, 'not an embeddings list');
            const u = isObject(json.usage) ? json.usage : {};
            const input = num(u.prompt_tokens);
            return {
              response: null,
              usage: { inputTokens: input, cachedInputTokens: 0, cacheWriteInputTokens: 0, outputTokens: 0, reasoningTokens: 0, totalTokens: num(u.total_tokens) || input, raw: {} },
              model: typeof json.model === 'string' ? json.model : '',
            };
          },
        }
      : {}),

    modelsRequest: () => ({ method: 'GET', path: '/models', headers: getHeaders }),

    modelsResponse(json) {
      const data = isObject(json) && Array.isArray(json.data) ? json.data : [];
      return data.map((m) => (isObject(m) && typeof m.id === 'string' ? m.id : '')).filter(Boolean);
    },

    error: (status, body) => upstreamError(config.name, redactor, status, body),
  };
}
