import { invalidRequest } from '../errors.ts';
import { Redactor } from '../redact.ts';
import { unusableReply, upstreamError } from './errors.ts';
import { requestJson } from './request-json.ts';
import type {
  ChatContext,
  ChatResult,
  Json,
  ProviderAdapter,
  ProviderConfig,
  SseEvent,
  StreamStep,
  StreamTranslator,
  TokenUsage,
  UpstreamRequest,
  UsageDetail,
} from './types.ts';

type Obj = Record<string, unknown>;
type Block = Obj;

interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: Block[];
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

const finishReasons: Record<string, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

const toFinishReason = (stopReason: unknown): string | null =>
  typeof stopReason === 'string' ? (finishReasons[stopReason] ?? 'stop') : null;

/** HTTP statuses of Anthropic's error types, for errors that arrive inside a 200 stream. */
export const statusOfErrorType: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

function toAnthropicImage(url: unknown, param: string): Block {
  if (typeof url !== 'string') throw invalidRequest(`${param}.image_url.url must be a string`, param);
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (!m) throw invalidRequest(`${param}.image_url.url must be an http(s) URL or a base64 data URL`, param);
  return { type: 'image', source: { type: 'base64', media_type: m[1], data: m[2] } };
}

/** OpenAI content (a string or parts) as Anthropic blocks; empty text is left out, Anthropic rejects it. */
function toAnthropicContent(content: unknown, param: string): Block[] {
  if (content === null || content === undefined) return [];
  if (typeof content === 'string') return content ? [{ type: 'text', text: content }] : [];
  if (!Array.isArray(content)) throw invalidRequest(`${param} must be a string or an array of content parts`, param);
  const blocks: Block[] = [];
  content.forEach((part: unknown, i) => {
    const at = `${param}[${i}]`;
    if (!isObj(part)) throw invalidRequest(`${at} must be an object`, at);
    let block: Block;
    if (part.type === 'text') {
      if (typeof part.text !== 'string' || !part.text) return;
      block = { type: 'text', text: part.text };
    } else if (part.type === 'image_url') {
      const image = part.image_url;
      block = toAnthropicImage(isObj(image) ? image.url : image, at);
    } else {
      throw invalidRequest(`content part type ${String(part.type)} is not supported by Anthropic`, at);
    }
    // Clients that know they talk to Claude mark prompt-cache breakpoints on parts.
    if (isObj(part.cache_control)) block.cache_control = part.cache_control;
    blocks.push(block);
  });
  return blocks;
}

function toAnthropicToolUse(call: unknown, param: string): Block {
  if (!isObj(call) || !isObj(call.function)) throw invalidRequest(`${param}.function is required`, param);
  if (typeof call.id !== 'string' || !call.id) throw invalidRequest(`${param}.id is required`, `${param}.id`);
  const { name, arguments: args } = call.function;
  if (typeof name !== 'string' || !name) throw invalidRequest(`${param}.function.name is required`, `${param}.function.name`);
  let input: unknown = {};
  if (typeof args === 'string' && args.trim()) {
    try {
      input = JSON.parse(args);
    } catch {
      input = undefined;
    }
  }
  if (!isObj(input)) throw invalidRequest(`${param}.function.arguments must be a JSON object`, `${param}.function.arguments`);
  return { type: 'tool_use', id: call.id, name, input };
}

/**
 * Splits OpenAI messages into Anthropic's top-level `system` blocks and alternating turns. Tool
 * results become user turns, and consecutive turns of one role are merged into one.
 */
function toAnthropicMessages(messages: unknown): { system: Block[]; messages: AnthropicMessage[] } {
  if (!Array.isArray(messages)) throw invalidRequest('messages must be an array', 'messages');
  const system: Block[] = [];
  const turns: AnthropicMessage[] = [];
  const append = (role: AnthropicMessage['role'], content: Block[]) => {
    if (!content.length) return;
    const last = turns.at(-1);
    if (last?.role === role) last.content.push(...content);
    else turns.push({ role, content });
  };
  messages.forEach((msg: unknown, i) => {
    const at = `messages[${i}]`;
    if (!isObj(msg)) throw invalidRequest(`${at} must be an object`, at);
    switch (msg.role) {
      case 'system':
      case 'developer':
        system.push(...toAnthropicContent(msg.content, `${at}.content`));
        break;
      case 'user':
        append('user', toAnthropicContent(msg.content, `${at}.content`));
        break;
      case 'assistant': {
        const calls = Array.isArray(msg.tool_calls) ? msg.tool_calls : [];
        append('assistant', [
          ...toAnthropicContent(msg.content, `${at}.content`),
          ...calls.map((c: unknown, j) => toAnthropicToolUse(c, `${at}.tool_calls[${j}]`)),
        ]);
        break;
      }
      case 'tool': {
        if (typeof msg.tool_call_id !== 'string' || !msg.tool_call_id) {
          throw invalidRequest(`${at}.tool_call_id is required`, `${at}.tool_call_id`);
        }
        const result: Block = { type: 'tool_result', tool_use_id: msg.tool_call_id };
        const content = typeof msg.content === 'string' ? msg.content : toAnthropicContent(msg.content, `${at}.content`);
        if (content.length) result.content = content;
        append('user', [result]);
        break;
      }
      default:
        throw invalidRequest(`${at}.role ${String(msg.role)} is not supported by Anthropic`, `${at}.role`);
    }
  });
  return { system, messages: turns };
}

function toAnthropicTools(tools: unknown): Block[] {
  if (!Array.isArray(tools)) return [];
  return tools.map((tool: unknown, i) => {
    const at = `tools[${i}]`;
    if (!isObj(tool) || tool.type !== 'function' || !isObj(tool.function)) {
      throw invalidRequest(`${at} must be a function tool; Anthropic supports no other kind here`, at);
    }
    const { name, description, parameters } = tool.function;
    if (typeof name !== 'string' || !name) throw invalidRequest(`${at}.function.name is required`, `${at}.function.name`);
    const out: Block = { name, input_schema: isObj(parameters) ? parameters : { type: 'object', properties: {} } };
    if (typeof description === 'string' && description) out.description = description;
    return out;
  });
}

/** OpenAI `tool_choice` and `parallel_tool_calls` as Anthropic's `tool_choice`, or undefined to leave it out. */
function toAnthropicToolChoice(choice: unknown, parallelToolCalls: unknown): Obj | undefined {
  let out: Obj | undefined;
  if (choice === 'auto') out = { type: 'auto' };
  else if (choice === 'required') out = { type: 'any' };
  else if (choice === 'none') return { type: 'none' };
  else if (isObj(choice) && choice.type === 'function' && isObj(choice.function) && typeof choice.function.name === 'string') {
    out = { type: 'tool', name: choice.function.name };
  }
  if (parallelToolCalls === false) out = { ...(out ?? { type: 'auto' }), disable_parallel_tool_use: true };
  return out;
}

function toAnthropicRequest(body: Obj, ctx: ChatContext): Obj {
  const { system, messages } = toAnthropicMessages(body.messages);
  const req: Obj = {
    model: ctx.model,
    messages,
    max_tokens: body.max_tokens ?? body.max_completion_tokens ?? ctx.defaultMaxTokens,
  };
  if (system.length) req.system = system;
  for (const key of ['temperature', 'top_p', 'top_k'] as const) {
    if (typeof body[key] === 'number') req[key] = body[key];
  }
  if (typeof body.stop === 'string') req.stop_sequences = [body.stop];
  else if (Array.isArray(body.stop) && body.stop.length) req.stop_sequences = body.stop;
  if (typeof body.user === 'string' && body.user) req.metadata = { user_id: body.user };
  const tools = toAnthropicTools(body.tools);
  if (tools.length) {
    req.tools = tools;
    const toolChoice = toAnthropicToolChoice(body.tool_choice, body.parallel_tool_calls);
    if (toolChoice) req.tool_choice = toolChoice;
  }
  req.stream = ctx.stream;
  return req;
}

/**
 * Anthropic's `input_tokens` counts only the uncached part of the prompt; cache reads and writes
 * come apart and are added back so `inputTokens` is the whole prompt. Of the writes,
 * `cache_creation.ephemeral_1h_input_tokens` were cached for an hour, at a dearer rate; web
 * searches (`server_tool_use.web_search_requests`) are billed per search.
 */
export function fromAnthropicUsage(usage: Obj): TokenUsage {
  const cacheRead = num(usage.cache_read_input_tokens);
  const cacheWrite = num(usage.cache_creation_input_tokens);
  const inputTokens = num(usage.input_tokens) + cacheRead + cacheWrite;
  const outputTokens = num(usage.output_tokens);
  const raw: Record<string, Json> = {};
  if (typeof usage.cache_read_input_tokens === 'number') raw.cache_read_input_tokens = cacheRead;
  if (typeof usage.cache_creation_input_tokens === 'number') raw.cache_creation_input_tokens = cacheWrite;
  // Breakdowns (cache lifetimes, server tool calls, thinking tokens), flattened for raw_data.
  for (const [group, counts] of Object.entries(usage)) {
    if (isObj(counts)) for (const [k, v] of Object.entries(counts)) if (num(v) > 0) raw[`${group}_${k}`] = num(v);
  }
  const detail: UsageDetail = {};
  if (raw.cache_creation_ephemeral_1h_input_tokens) detail.cacheWrite1hInputTokens = num(raw.cache_creation_ephemeral_1h_input_tokens);
  if (raw.server_tool_use_web_search_requests) detail.webSearches = num(raw.server_tool_use_web_search_requests);
  return {
    inputTokens,
    cachedInputTokens: cacheRead,
    cacheWriteInputTokens: cacheWrite,
    outputTokens,
    reasoningTokens: num(raw.output_tokens_details_thinking_tokens),
    totalTokens: inputTokens + outputTokens,
    ...(Object.keys(detail).length > 0 && { detail }),
    raw,
  };
}

const toOpenAIUsage = (u: TokenUsage) => ({
  prompt_tokens: u.inputTokens,
  completion_tokens: u.outputTokens,
  total_tokens: u.totalTokens,
  prompt_tokens_details: { cached_tokens: u.cachedInputTokens },
});

function fromAnthropicMessage(json: unknown, ctx: ChatContext, provider: string): ChatResult {
  if (!isObj(json) || json.type !== 'message' || !Array.isArray(json.content)) {
    throw unusableReply(provider, 'the reply is not an Anthropic message object', json);
  }
  const id = typeof json.id === 'string' ? json.id : '';
  const model = typeof json.model === 'string' ? json.model : ctx.model;
  let text = '';
  let reasoning = '';
  const toolCalls: Obj[] = [];
  for (const block of json.content as unknown[]) {
    if (!isObj(block)) continue;
    if (block.type === 'text' && typeof block.text === 'string') text += block.text;
    else if (block.type === 'thinking' && typeof block.thinking === 'string') reasoning += block.thinking;
    else if (block.type === 'tool_use') {
      toolCalls.push({
        id: block.id,
        type: 'function',
        function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) },
      });
    }
  }
  const message: Obj = { role: 'assistant', content: text || (toolCalls.length ? null : '') };
  if (reasoning) message.reasoning_content = reasoning;
  if (toolCalls.length) message.tool_calls = toolCalls;
  const usage = isObj(json.usage) ? fromAnthropicUsage(json.usage) : null;
  const response: Obj = {
    id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message, finish_reason: toFinishReason(json.stop_reason) ?? 'stop', logprobs: null }],
  };
  if (usage) response.usage = toOpenAIUsage(usage);
  return { response, usage, id, model };
}

/**
 * Translates Anthropic's stream events to OpenAI chunks. Thinking deltas become
 * `delta.reasoning_content`; signatures and server-tool blocks are not forwarded. Usage is reported
 * from message_start on (input and cache tokens), then updated by message_delta (output tokens).
 */
class AnthropicStream implements StreamTranslator {
  private messageId = '';
  private messageModel: string;
  private readonly created = Math.floor(Date.now() / 1000);
  /** Tool-call index (OpenAI's) of each tool_use content block index (Anthropic's). */
  private readonly toolIndexOfBlock = new Map<number, number>();
  private usage: Obj = {};

  constructor(
    private readonly adapter: ProviderAdapter,
    private readonly ctx: ChatContext,
  ) {
    this.messageModel = ctx.model;
  }

  get id(): string {
    return this.messageId;
  }

  get model(): string {
    return this.messageModel;
  }

  private chunk(delta: Obj, finishReason: string | null = null): Obj {
    return {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }],
    };
  }

  private mergeUsage(usage: unknown): TokenUsage {
    if (isObj(usage)) for (const [k, v] of Object.entries(usage)) if (v !== null && v !== undefined) this.usage[k] = v;
    return fromAnthropicUsage(this.usage);
  }

  event(ev: SseEvent): StreamStep {
    let data: unknown;
    try {
      data = JSON.parse(ev.data);
    } catch {
      return { chunks: [], error: unusableReply(this.adapter.config.name, 'a stream event is not JSON', ev.data) };
    }
    if (!isObj(data)) return { chunks: [] };
    switch (data.type ?? ev.event) {
      case 'message_start': {
        const msg = isObj(data.message) ? data.message : {};
        if (typeof msg.id === 'string') this.messageId = msg.id;
        if (typeof msg.model === 'string') this.messageModel = msg.model;
        return { chunks: [this.chunk({ role: 'assistant', content: '' })], usage: this.mergeUsage(msg.usage) };
      }
      case 'content_block_start': {
        const block = isObj(data.content_block) ? data.content_block : {};
        if (block.type === 'tool_use') {
          const index = this.toolIndexOfBlock.size;
          this.toolIndexOfBlock.set(num(data.index), index);
          const call = { index, id: block.id, type: 'function', function: { name: block.name, arguments: '' } };
          return { chunks: [this.chunk({ tool_calls: [call] })] };
        }
        if (block.type === 'text' && typeof block.text === 'string' && block.text) {
          return { chunks: [this.chunk({ content: block.text })] };
        }
        return { chunks: [] };
      }
      case 'content_block_delta': {
        const delta = isObj(data.delta) ? data.delta : {};
        if (delta.type === 'text_delta' && typeof delta.text === 'string') {
          return { chunks: [this.chunk({ content: delta.text })] };
        }
        if (delta.type === 'thinking_delta' && typeof delta.thinking === 'string') {
          return { chunks: [this.chunk({ reasoning_content: delta.thinking })] };
        }
        // Deltas of blocks that are not tool calls (server tools such as web search) are not forwarded.
        const index = this.toolIndexOfBlock.get(num(data.index));
        if (delta.type === 'input_json_delta' && index !== undefined && typeof delta.partial_json === 'string') {
          if (!delta.partial_json) return { chunks: [] };
          return { chunks: [this.chunk({ tool_calls: [{ index, function: { arguments: delta.partial_json } }] })] };
        }
        return { chunks: [] };
      }
      case 'message_delta': {
        const delta = isObj(data.delta) ? data.delta : {};
        const finishReason = toFinishReason(delta.stop_reason);
        return { chunks: finishReason ? [this.chunk({}, finishReason)] : [], usage: this.mergeUsage(data.usage) };
      }
      case 'message_stop': {
        const usage = fromAnthropicUsage(this.usage);
        if (!this.ctx.includeUsage) return { chunks: [], usage };
        const { id, created, model } = this;
        return { chunks: [{ id, object: 'chat.completion.chunk', created, model, choices: [], usage: toOpenAIUsage(usage) }], usage };
      }
      case 'error': {
        const type = isObj(data.error) ? data.error.type : undefined;
        const status = (typeof type === 'string' ? statusOfErrorType[type] : undefined) ?? 500;
        return { chunks: [], error: this.adapter.error(status, ev.data) };
      }
      default:
        return { chunks: [] };
    }
  }
}

/** `redactor` scrubs its error replies (the gateway passes one holding every configured secret). */
export function createAnthropicAdapter(config: ProviderConfig, redactor = new Redactor([config.apiKey])): ProviderAdapter {
  const headers: Record<string, string> = { 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
  if (config.apiKey) headers['x-api-key'] = config.apiKey;
  const authHeaders: Record<string, string> = { 'anthropic-version': headers['anthropic-version']! };
  if (config.apiKey) authHeaders['x-api-key'] = config.apiKey;
  const adapter: ProviderAdapter = {
    config,
    nativeApis: ['messages'],
    authHeaders,
    chatRequest: (body, ctx): UpstreamRequest => ({
      method: 'POST',
      path: '/messages',
      headers: { ...headers },
      body: requestJson(toAnthropicRequest(body, ctx)),
    }),
    chatResponse: (json, ctx) => fromAnthropicMessage(json, ctx, config.name),
    chatStream: (ctx) => new AnthropicStream(adapter, ctx),
    // The model list is paginated with a default page of 20; one page of the maximum size holds them all.
    modelsRequest: () => ({ method: 'GET', path: '/models?limit=1000', headers: { ...headers } }),
    modelsResponse: (json) => {
      const data = isObj(json) ? json.data : undefined;
      if (!Array.isArray(data)) throw unusableReply(config.name, 'the model list has no data array', json);
      return data.flatMap((m: unknown) => (isObj(m) && typeof m.id === 'string' ? [m.id] : []));
    },
    error: (status, body) => upstreamError(config.name, redactor, status, body),
  };
  return adapter;
}
