import { invalidRequest } from '../errors.ts';
import { fromAnthropicUsage, statusOfErrorType } from '../providers/anthropic.ts';
import type { TokenUsage } from '../providers/types.ts';
import type { NativeResult, NativeStreamObserver, Obj } from './types.ts';
import { itemId } from './responses.ts';
import { isObj, toMessagesUsage } from './usage.ts';

const unsupported = (what: string, param: string) =>
  invalidRequest(`${what} cannot be translated to chat completions; send it to an Anthropic provider`, param, 'unsupported_parameter');

/** Anthropic text and image blocks as chat content parts; `cache_control` stays on the part (the Anthropic adapter keeps it). */
function toChatPart(block: Obj, at: string): Obj {
  let part: Obj;
  if (block.type === 'text') part = { type: 'text', text: typeof block.text === 'string' ? block.text : '' };
  else if (block.type === 'image') {
    const source = isObj(block.source) ? block.source : {};
    let url: unknown;
    if (source.type === 'base64') url = `data:${String(source.media_type)};base64,${String(source.data)}`;
    else if (source.type === 'url') url = source.url;
    if (typeof url !== 'string') throw unsupported(`an image source of type ${String(source.type)}`, `${at}.source.type`);
    part = { type: 'image_url', image_url: { url } };
  } else throw unsupported(`content block type ${String(block.type)}`, `${at}.type`);
  if (isObj(block.cache_control)) part.cache_control = block.cache_control;
  return part;
}

function blocksOf(content: unknown, at: string): Obj[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) throw invalidRequest(`${at} must be a string or an array of content blocks`, at);
  return content.map((b: unknown, i) => {
    if (!isObj(b)) throw invalidRequest(`${at}[${i}] must be an object`, `${at}[${i}]`);
    return b;
  });
}

const textOfBlocks = (blocks: Obj[]): string => blocks.map((b) => (b.type === 'text' && typeof b.text === 'string' ? b.text : '')).join('');

/**
 * One Anthropic turn as chat messages. A user turn's tool results become `tool` messages, placed
 * first (chat wants them right after the assistant's calls); an assistant turn's `tool_use`
 * blocks become `tool_calls`. Thinking blocks of earlier turns are left out: their signatures mean
 * nothing to another provider.
 */
function toChatTurn(msg: Obj, at: string): Obj[] {
  const blocks = blocksOf(msg.content, `${at}.content`);
  if (msg.role === 'assistant') {
    const calls: Obj[] = [];
    let text = '';
    blocks.forEach((b, i) => {
      if (b.type === 'text' && typeof b.text === 'string') text += b.text;
      else if (b.type === 'tool_use') calls.push({ id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } });
      else if (b.type !== 'thinking' && b.type !== 'redacted_thinking') throw unsupported(`content block type ${String(b.type)}`, `${at}.content[${i}].type`);
    });
    const out: Obj = { role: 'assistant', content: text || (calls.length ? null : '') };
    if (calls.length) out.tool_calls = calls;
    return [out];
  }
  if (msg.role !== 'user') throw invalidRequest(`${at}.role must be user or assistant`, `${at}.role`);
  const tools: Obj[] = [];
  const parts: Obj[] = [];
  blocks.forEach((b, i) => {
    const where = `${at}.content[${i}]`;
    if (b.type === 'tool_result') {
      const content = typeof b.content === 'string' ? b.content : textOfBlocks(b.content === undefined ? [] : blocksOf(b.content, `${where}.content`));
      tools.push({ role: 'tool', tool_call_id: b.tool_use_id, content: b.is_error === true ? `Error: ${content}` : content });
    } else parts.push(toChatPart(b, where));
  });
  if (parts.length) tools.push({ role: 'user', content: parts.every((p) => p.type === 'text' && !p.cache_control) ? textOfBlocks(parts) : parts });
  return tools;
}

/** `thinking.budget_tokens` as the nearest `reasoning_effort`. */
function effortOf(thinking: unknown): string | undefined {
  if (!isObj(thinking) || thinking.type === 'disabled') return undefined;
  const budget = typeof thinking.budget_tokens === 'number' ? thinking.budget_tokens : 8192;
  return budget <= 2048 ? 'low' : budget <= 12_288 ? 'medium' : 'high';
}

function toChatTools(tools: unknown): Obj[] | undefined {
  if (!Array.isArray(tools) || tools.length === 0) return undefined;
  return tools.map((tool: unknown, i) => {
    const at = `tools[${i}]`;
    // Server tools (web search, code execution…) carry a versioned `type`; client tools have none or `custom`.
    if (!isObj(tool) || (tool.type !== undefined && tool.type !== 'custom')) throw unsupported(`a server tool (${isObj(tool) ? String(tool.type) : 'not an object'})`, at);
    if (typeof tool.name !== 'string' || !tool.name) throw invalidRequest(`${at}.name is required`, `${at}.name`);
    const fn: Obj = { name: tool.name, parameters: isObj(tool.input_schema) ? tool.input_schema : { type: 'object', properties: {} } };
    if (typeof tool.description === 'string') fn.description = tool.description;
    return { type: 'function', function: fn };
  });
}

function toChatToolChoice(choice: unknown, chat: Obj): void {
  if (!isObj(choice)) return;
  if (choice.type === 'auto') chat.tool_choice = 'auto';
  else if (choice.type === 'any') chat.tool_choice = 'required';
  else if (choice.type === 'none') chat.tool_choice = 'none';
  else if (choice.type === 'tool' && typeof choice.name === 'string') chat.tool_choice = { type: 'function', function: { name: choice.name } };
  if (choice.disable_parallel_tool_use === true) chat.parallel_tool_calls = false;
}

/** An Anthropic Messages request as a chat completions request. */
export function messagesToChat(body: Obj): Obj {
  const messages: Obj[] = [];
  if (typeof body.system === 'string' && body.system) messages.push({ role: 'system', content: body.system });
  else if (Array.isArray(body.system) && body.system.length) {
    messages.push({ role: 'system', content: blocksOf(body.system, 'system').map((b, i) => toChatPart(b, `system[${i}]`)) });
  }
  if (!Array.isArray(body.messages)) throw invalidRequest('messages must be an array', 'messages');
  body.messages.forEach((m: unknown, i) => {
    if (!isObj(m)) throw invalidRequest(`messages[${i}] must be an object`, `messages[${i}]`);
    messages.push(...toChatTurn(m, `messages[${i}]`));
  });
  const chat: Obj = { model: body.model, messages, max_tokens: body.max_tokens };
  if (typeof body.provider === 'string') chat.provider = body.provider;
  if (body.stream === true) chat.stream = true;
  for (const key of ['temperature', 'top_p', 'top_k'] as const) if (typeof body[key] === 'number') chat[key] = body[key];
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length) chat.stop = body.stop_sequences;
  const user = isObj(body.metadata) ? body.metadata.user_id : undefined;
  if (typeof user === 'string') chat.user = user;
  const tools = toChatTools(body.tools);
  if (tools) chat.tools = tools;
  toChatToolChoice(body.tool_choice, chat);
  const effort = effortOf(body.thinking);
  if (effort) chat.reasoning_effort = effort;
  return chat;
}

const stopReasons: Record<string, string> = { stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use', function_call: 'tool_use', content_filter: 'refusal' };

export const toStopReason = (finishReason: unknown): string => (typeof finishReason === 'string' ? (stopReasons[finishReason] ?? 'end_turn') : 'end_turn');

/** The arguments of a tool call as Anthropic's `input` object (`{}` when they are not a JSON object). */
export function toolInput(args: unknown): Obj {
  if (typeof args !== 'string' || !args.trim()) return {};
  try {
    const v: unknown = JSON.parse(args);
    return isObj(v) ? v : {};
  } catch {
    return {};
  }
}

/** A chat completion (its first choice) as an Anthropic Message. */
export function chatToMessage(completion: Obj, usage: TokenUsage | null, request: Obj): Obj {
  const choice = Array.isArray(completion.choices) && isObj(completion.choices[0]) ? completion.choices[0] : {};
  const message = isObj(choice.message) ? choice.message : {};
  const content: Obj[] = [];
  // Without a signature a thinking block cannot be sent back to Anthropic; other providers ignore it.
  if (typeof message.reasoning_content === 'string' && message.reasoning_content) content.push({ type: 'thinking', thinking: message.reasoning_content, signature: '' });
  if (typeof message.content === 'string' && message.content) content.push({ type: 'text', text: message.content });
  for (const call of Array.isArray(message.tool_calls) ? message.tool_calls : []) {
    if (!isObj(call) || !isObj(call.function)) continue;
    content.push({ type: 'tool_use', id: call.id, name: call.function.name, input: toolInput(call.function.arguments) });
  }
  return {
    id: itemId('msg'),
    type: 'message',
    role: 'assistant',
    model: typeof completion.model === 'string' && completion.model ? completion.model : request.model,
    content,
    stop_reason: toStopReason(choice.finish_reason),
    stop_sequence: null,
    usage: toMessagesUsage(usage ?? { inputTokens: 0, cachedInputTokens: 0, cacheWriteInputTokens: 0, outputTokens: 0, reasoningTokens: 0, totalTokens: 0, raw: {} }),
  };
}

/** Usage, id and model of a relayed Anthropic Message. */
export function messagesResult(json: unknown, fallbackModel: string): NativeResult {
  const m = isObj(json) ? json : {};
  return {
    usage: isObj(m.usage) ? fromAnthropicUsage(m.usage) : null,
    id: typeof m.id === 'string' ? m.id : '',
    model: typeof m.model === 'string' && m.model ? m.model : fallbackModel,
  };
}

/**
 * Reads id, model and usage off a relayed Anthropic stream: `message_start` (input and cache
 * tokens) and `message_delta` (output tokens, and in newer versions the input counts again); the
 * content events are not parsed.
 */
export function messagesObserver(fallbackModel: string): NativeStreamObserver {
  let id = '';
  let model = fallbackModel;
  const usage: Obj = {};
  return {
    get id() {
      return id;
    },
    get model() {
      return model;
    },
    event(ev) {
      const type = ev.event;
      if (type !== 'message_start' && type !== 'message_delta' && type !== 'message_stop' && type !== 'error') return {};
      if (type === 'message_stop') return { done: true };
      let json: unknown;
      try {
        json = JSON.parse(ev.data);
      } catch {
        return {};
      }
      if (!isObj(json)) return {};
      if (type === 'error') {
        const errorType = isObj(json.error) ? json.error.type : undefined;
        return { error: { status: (typeof errorType === 'string' ? statusOfErrorType[errorType] : undefined) ?? 500, body: ev.data } };
      }
      const part = type === 'message_start' && isObj(json.message) ? json.message : json;
      if (type === 'message_start') {
        if (typeof part.id === 'string') id = part.id;
        if (typeof part.model === 'string' && part.model) model = part.model;
      }
      if (isObj(part.usage)) for (const k in part.usage) if (part.usage[k] !== null && part.usage[k] !== undefined) usage[k] = part.usage[k];
      return { usage: fromAnthropicUsage(usage) };
    },
  };
}
