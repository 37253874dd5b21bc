import type { GatewayError } from '../errors.ts';

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** Provider types, named as the original gateway names them. */
export const providerTypes = [
  'openai',
  'anthropic',
  'gemini',
  'groq',
  'fireworks',
  'openrouter',
  'deepseek',
  'zai',
  'xai',
  'minimax',
  'xiaomi',
  'opencode_go',
  'oracle',
  'ollama',
  'bailian',
] as const;

export type ProviderType = (typeof providerTypes)[number];

/** One configured provider instance (e.g. type `openai`, name `openai-east`). */
export interface ProviderConfig {
  name: string;
  type: ProviderType;
  baseUrl: string;
  /** Empty for providers that need none (a local Ollama, a local mock). */
  apiKey: string;
  /** Every key of the provider, `apiKey` first, when it has more than one: requests take turns (src/providers/key-pool.ts). */
  apiKeys?: readonly string[];
  /** Configured model list: the fallback when the provider's own model list cannot be fetched. */
  models: string[];
}

/**
 * Token usage normalised across providers. `inputTokens` always counts every input token, cache
 * reads and writes included (Anthropic reports them apart; its adapter adds them back), and
 * `outputTokens` every output token, reasoning included.
 */
export interface TokenUsage {
  inputTokens: number;
  /** Of the input, tokens read from the provider's prompt cache. */
  cachedInputTokens: number;
  /** Of the input, tokens written to the provider's prompt cache. */
  cacheWriteInputTokens: number;
  outputTokens: number;
  /** Of the output, reasoning ("thinking") tokens. */
  reasoningTokens: number;
  totalTokens: number;
  /** Parts of the counts above that some models price apart; absent when the reply reports none. */
  detail?: UsageDetail;
  /**
   * Provider-specific usage fields, flattened with the original gateway's names, for `raw_data`
   * (e.g. `prompt_cached_tokens`, `cache_read_input_tokens`, `cached_content_token_count`,
   * `completion_reasoning_tokens`, OpenRouter `cost`, xAI `cost_in_usd_ticks`).
   */
  raw: Record<string, Json>;
}

/**
 * Breakdowns of `TokenUsage` counts by modality and cache lifetime, and server-side tool calls.
 * A key is absent when the reply does not report it; for the cached shares of audio and image
 * input that differs from 0 (a reply with cached and audio tokens may not say how many of the
 * cached were audio).
 */
export interface UsageDetail {
  /** Of the input, audio tokens (cached ones included). */
  audioInputTokens?: number;
  /** Of the cached input, audio tokens. */
  cachedAudioInputTokens?: number;
  /** Of the input, image tokens (Gemini counts document pages as images). */
  imageInputTokens?: number;
  /** Of the cached input, image tokens. */
  cachedImageInputTokens?: number;
  /** Of the input, video tokens. */
  videoInputTokens?: number;
  /** Of the cache writes, tokens cached for an hour rather than five minutes (Anthropic). */
  cacheWrite1hInputTokens?: number;
  /** Of the output, audio tokens. */
  audioOutputTokens?: number;
  /** Of the output, image tokens. */
  imageOutputTokens?: number;
  /** Of the output, video tokens. */
  videoOutputTokens?: number;
  /** Web searches the provider ran for the request (Anthropic's server-side web search tool). */
  webSearches?: number;
}

/** An HTTP request to a provider; `path` is appended to the provider's base URL. */
export interface UpstreamRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

/** What an adapter needs to know about the request beyond its body. */
export interface ChatContext {
  /** Model id as the provider knows it (the `provider/` prefix of a selector removed). */
  model: string;
  stream: boolean;
  /** Ask the provider to report usage on streams (`stream_options.include_usage`). */
  includeUsage: boolean;
  /** `max_tokens` to send when the client gave none and the provider requires one (Anthropic). */
  defaultMaxTokens: number;
  /** The client's body as received, to forward unchanged when nothing in it needs changing. */
  raw?: Buffer;
}

/** A parsed non-streaming reply: the OpenAI-shaped body for the client, and what to record. */
export interface ChatResult {
  /** The OpenAI `chat.completion` object to send, or null to send the upstream bytes unchanged. */
  response: Record<string, unknown> | null;
  usage: TokenUsage | null;
  /** The provider's response id (`chatcmpl-…`, `msg_…`). */
  id: string;
  /** The model as the provider reports it. */
  model: string;
}

/** One server-sent event from the provider. */
export interface SseEvent {
  event?: string;
  data: string;
}

/** Output of a stream translator for one upstream event. */
export interface StreamStep {
  /**
   * OpenAI `chat.completion.chunk` objects to send as `data:` events, or `'passthrough'` to send the
   * upstream event unchanged (OpenAI-compatible providers).
   */
  chunks: Record<string, unknown>[] | 'passthrough';
  /** Usage carried by this event, if any; the last one wins. */
  usage?: TokenUsage;
  /** The provider reported an error inside the stream. */
  error?: GatewayError;
}

/** Stateful translator of one upstream stream; created per request. */
export interface StreamTranslator {
  event(ev: SseEvent): StreamStep;
  /** The provider's response id and model, once seen. */
  readonly id: string;
  readonly model: string;
}

export interface EmbeddingsResult {
  response: Record<string, unknown> | null;
  usage: TokenUsage | null;
  model: string;
}

/**
 * Ingress APIs besides chat completions. A provider that serves one at its base URL gets requests
 * in it relayed as they are (`/responses`, `/messages`); any other provider gets them translated
 * to chat completions and back (src/ingress).
 */
export type NativeApi = 'responses' | 'messages';

/**
 * A provider adapter: pure functions from OpenAI-shaped requests to provider requests and from
 * provider replies to OpenAI-shaped replies. Adapters never do I/O; `upstream.ts` does.
 */
export interface ProviderAdapter {
  readonly config: ProviderConfig;
  /** The ingress APIs this provider serves natively. */
  readonly nativeApis: readonly NativeApi[];
  /** The gateway's credentials and the headers the provider always wants, for relayed and passthrough requests. */
  readonly authHeaders: Readonly<Record<string, string>>;
  chatRequest(body: Record<string, unknown>, ctx: ChatContext): UpstreamRequest;
  chatResponse(json: unknown, ctx: ChatContext): ChatResult;
  chatStream(ctx: ChatContext): StreamTranslator;
  /** Absent when the provider has no embeddings API. */
  embeddingsRequest?(body: Record<string, unknown>, model: string): UpstreamRequest;
  embeddingsResponse?(json: unknown, model: string): EmbeddingsResult;
  modelsRequest(): UpstreamRequest;
  /** Model ids from the provider's model list reply. */
  modelsResponse(json: unknown): string[];
  /** Maps an error reply to a GatewayError; the upstream body never reaches the client verbatim. */
  error(status: number, body: string): GatewayError;
}
