import { randomBytes } from 'node:crypto';
import { invalidRequest } from '../errors.ts';
import type { TokenUsage } from '../providers/types.ts';
import type { NativeResult, NativeStreamObserver, Obj } from './types.ts';
import { fromResponsesUsage, isObj, toResponsesUsage } from './usage.ts';

/** An id of the Responses API's form (`resp_…`, `msg_…`, `fc_…`, `rs_…`) for what the gateway makes up. */
export const itemId = (prefix: string): string => `${prefix}_${randomBytes(12).toString('hex')}`;

const unsupported = (what: string, param: string) =>
  invalidRequest(`${what} cannot be translated to chat completions; send it to a provider that serves the Responses API natively`, param, 'unsupported_parameter');

/** Text of a Responses content list (input_text, output_text, refusal parts) or a string. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p) => (isObj(p) ? (typeof p.text === 'string' ? p.text : typeof p.refusal === 'string' ? p.refusal : '') : '')).join('');
}

/** Responses input parts as chat content parts. */
function toChatParts(content: unknown, at: string): unknown {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw invalidRequest(`${at} must be a string or an array of content parts`, at);
  return content.map((part: unknown, i) => {
    const where = `${at}[${i}]`;
    if (!isObj(part)) throw invalidRequest(`${where} must be an object`, where);
    switch (part.type) {
      case 'input_text':
      case 'output_text':
        return { type: 'text', text: typeof part.text === 'string' ? part.text : '' };
      case 'refusal':
        return { type: 'text', text: typeof part.refusal === 'string' ? part.refusal : '' };
      case 'input_image': {
        if (typeof part.image_url !== 'string') throw unsupported('an input_image without image_url (file_id)', `${where}.file_id`);
        const image: Obj = { url: part.image_url };
        if (typeof part.detail === 'string') image.detail = part.detail;
        return { type: 'image_url', image_url: image };
      }
      default:
        throw unsupported(`content part type ${String(part.type)}`, `${where}.type`);
    }
  });
}

/** The Responses `input` (a string or a list of items) as chat messages, after `instructions`. */
function toChatMessages(body: Obj): Obj[] {
  const messages: Obj[] = [];
  if (typeof body.instructions === 'string' && body.instructions) messages.push({ role: 'system', content: body.instructions });
  const input = body.input;
  if (typeof input === 'string') {
    messages.push({ role: 'user', content: input });
    return messages;
  }
  if (!Array.isArray(input)) throw invalidRequest('input must be a string or an array of input items', 'input');
  input.forEach((item: unknown, i) => {
    const at = `input[${i}]`;
    if (!isObj(item)) throw invalidRequest(`${at} must be an object`, at);
    const type = item.type ?? 'message';
    if (type === 'message') {
      const role = item.role;
      if (role !== 'user' && role !== 'assistant' && role !== 'system' && role !== 'developer') {
        throw invalidRequest(`${at}.role must be user, assistant, system or developer`, `${at}.role`);
      }
      messages.push({ role, content: role === 'assistant' ? textOf(item.content) : toChatParts(item.content, `${at}.content`) });
    } else if (type === 'function_call') {
      if (typeof item.call_id !== 'string' || typeof item.name !== 'string') throw invalidRequest(`${at} needs call_id and name`, at);
      const call = { id: item.call_id, type: 'function', function: { name: item.name, arguments: typeof item.arguments === 'string' ? item.arguments : '{}' } };
      // Calls of one turn arrive as consecutive items: they belong to one assistant message.
      const last = messages.at(-1);
      if (last?.role === 'assistant' && Array.isArray(last.tool_calls)) last.tool_calls.push(call);
      else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
    } else if (type === 'function_call_output') {
      if (typeof item.call_id !== 'string') throw invalidRequest(`${at}.call_id is required`, `${at}.call_id`);
      messages.push({ role: 'tool', tool_call_id: item.call_id, content: typeof item.output === 'string' ? item.output : textOf(item.output) });
    } else if (type === 'reasoning') {
      // Earlier reasoning (summaries, encrypted content) means nothing to another provider's model.
    } else if (type === 'item_reference') {
      throw unsupported('item_reference (it needs the provider to have stored the item)', `${at}.type`);
    } else throw unsupported(`input item type ${String(type)}`, `${at}.type`);
  });
  return messages;
}

function toChatTools(tools: unknown): Obj[] | undefined {
  if (!Array.isArray(tools) || tools.length === 0) return undefined;
  return tools.map((tool: unknown, i) => {
    const at = `tools[${i}]`;
    if (!isObj(tool) || tool.type !== 'function') throw unsupported(`a built-in tool (${isObj(tool) ? String(tool.type) : 'not an object'})`, at);
    if (typeof tool.name !== 'string' || !tool.name) throw invalidRequest(`${at}.name is required`, `${at}.name`);
    const fn: Obj = { name: tool.name, parameters: isObj(tool.parameters) ? tool.parameters : { type: 'object', properties: {} } };
    if (typeof tool.description === 'string') fn.description = tool.description;
    if (typeof tool.strict === 'boolean') fn.strict = tool.strict;
    return { type: 'function', function: fn };
  });
}

function toChatToolChoice(choice: unknown): unknown {
  if (choice === 'auto' || choice === 'none' || choice === 'required') return choice;
  if (isObj(choice) && choice.type === 'function' && typeof choice.name === 'string') return { type: 'function', function: { name: choice.name } };
  return undefined;
}

function toChatResponseFormat(text: unknown): Obj | undefined {
  const format = isObj(text) ? text.format : undefined;
  if (!isObj(format)) return undefined;
  if (format.type === 'json_object') return { type: 'json_object' };
  if (format.type === 'json_schema') {
    const schema: Obj = { name: typeof format.name === 'string' ? format.name : 'response', schema: format.schema };
    if (typeof format.strict === 'boolean') schema.strict = format.strict;
    if (typeof format.description === 'string') schema.description = format.description;
    return { type: 'json_schema', json_schema: schema };
  }
  return undefined;
}

/** A Responses API request as a chat completions request. */
export function responsesToChat(body: Obj): Obj {
  if (typeof body.previous_response_id === 'string' && body.previous_response_id) {
    throw invalidRequest(
      'previous_response_id needs a provider that stores responses (one serving the Responses API natively); the gateway stores no translated responses: send the whole conversation as input instead',
      'previous_response_id',
      'unsupported_parameter',
    );
  }
  if (body.conversation !== undefined && body.conversation !== null) throw unsupported('conversation', 'conversation');
  const chat: Obj = { model: body.model, messages: toChatMessages(body) };
  if (typeof body.provider === 'string') chat.provider = body.provider;
  if (body.stream === true) chat.stream = true;
  if (typeof body.max_output_tokens === 'number') chat.max_tokens = body.max_output_tokens;
  for (const key of ['temperature', 'top_p', 'parallel_tool_calls', 'top_logprobs'] as const) if (body[key] !== undefined && body[key] !== null) chat[key] = body[key];
  const tools = toChatTools(body.tools);
  if (tools) chat.tools = tools;
  const toolChoice = toChatToolChoice(body.tool_choice);
  if (toolChoice !== undefined) chat.tool_choice = toolChoice;
  const format = toChatResponseFormat(body.text);
  if (format) chat.response_format = format;
  const effort = isObj(body.reasoning) ? body.reasoning.effort : undefined;
  if (typeof effort === 'string') chat.reasoning_effort = effort;
  const user = typeof body.safety_identifier === 'string' ? body.safety_identifier : body.user;
  if (typeof user === 'string') chat.user = user;
  return chat;
}

const now = () => Math.floor(Date.now() / 1000);

/** Why a chat completion stopped, as a Responses status and `incomplete_details`. */
export function responseStatus(finishReason: unknown): { status: 'completed' | 'incomplete'; incomplete_details: Obj | null } {
  if (finishReason === 'length') return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
  if (finishReason === 'content_filter') return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };
  return { status: 'completed', incomplete_details: null };
}

/** The fields of a Response object that echo the request. */
export function responseShell(request: Obj, id: string, model: string, createdAt: number): Obj {
  const reasoning = isObj(request.reasoning) ? request.reasoning : {};
  return {
    id,
    object: 'response',
    created_at: createdAt,
    status: 'in_progress',
    background: false,
    error: null,
    incomplete_details: null,
    instructions: typeof request.instructions === 'string' ? request.instructions : null,
    max_output_tokens: typeof request.max_output_tokens === 'number' ? request.max_output_tokens : null,
    model,
    output: [],
    parallel_tool_calls: request.parallel_tool_calls !== false,
    previous_response_id: null,
    reasoning: { effort: typeof reasoning.effort === 'string' ? reasoning.effort : null, summary: null },
    // Translated responses are not kept: there is nothing to retrieve or continue from later.
    store: false,
    temperature: typeof request.temperature === 'number' ? request.temperature : null,
    text: isObj(request.text) ? request.text : { format: { type: 'text' } },
    tool_choice: request.tool_choice ?? 'auto',
    tools: Array.isArray(request.tools) ? request.tools : [],
    top_p: typeof request.top_p === 'number' ? request.top_p : null,
    truncation: 'disabled',
    usage: null,
    user: typeof request.user === 'string' ? request.user : null,
    metadata: isObj(request.metadata) ? request.metadata : {},
  };
}

/** A chat completion (its first choice) as a Response object. */
export function chatToResponse(completion: Obj, usage: TokenUsage | null, request: Obj): Obj {
  const choice = Array.isArray(completion.choices) && isObj(completion.choices[0]) ? completion.choices[0] : {};
  const message = isObj(choice.message) ? choice.message : {};
  const output: Obj[] = [];
  if (typeof message.reasoning_content === 'string' && message.reasoning_content) {
    output.push({ id: itemId('rs'), type: 'reasoning', summary: [{ type: 'summary_text', text: message.reasoning_content }] });
  }
  const text = typeof message.content === 'string' ? message.content : '';
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
  const content = !text && typeof message.refusal === 'string' ? { type: 'refusal', refusal: message.refusal } : { type: 'output_text', text, annotations: [], logprobs: [] };
  if (text || content.type === 'refusal' || calls.length === 0) {
    output.push({ id: itemId('msg'), type: 'message', status: 'completed', role: 'assistant', content: [content] });
  }
  for (const call of calls) {
    if (!isObj(call) || !isObj(call.function)) continue;
    output.push({
      id: itemId('fc'),
      type: 'function_call',
      status: 'completed',
      call_id: call.id,
      name: call.function.name,
      arguments: typeof call.function.arguments === 'string' ? call.function.arguments : '{}',
    });
  }
  const model = typeof completion.model === 'string' && completion.model ? completion.model : String(request.model);
  const response = responseShell(request, itemId('resp'), model, typeof completion.created === 'number' ? completion.created : now());
  return { ...response, ...responseStatus(choice.finish_reason), output, usage: usage ? toResponsesUsage(usage) : null };
}

const usageField = /"usage"\s*:\s*\{/;

/** Reads id, model and usage off a relayed Responses stream: `response.created` and the terminal events. */
export function responsesObserver(fallbackModel: string): NativeStreamObserver {
  let id = '';
  let model = fallbackModel;
  return {
    get id() {
      return id;
    },
    get model() {
      return model;
    },
    event(ev) {
      const type = ev.event;
      const terminal = type === 'response.completed' || type === 'response.incomplete' || type === 'response.failed';
      if (type !== 'response.created' && type !== 'error' && !terminal && (type !== undefined || !usageField.test(ev.data))) return {};
      let json: unknown;
      try {
        json = JSON.parse(ev.data);
      } catch {
        return {};
      }
      if (!isObj(json)) return {};
      if (json.type === 'error') return { error: { status: 502, body: JSON.stringify({ error: json }) } };
      const response = isObj(json.response) ? json.response : {};
      if (!id && typeof response.id === 'string') id = response.id;
      if (typeof response.model === 'string' && response.model) model = response.model;
      const usage = fromResponsesUsage(response.usage) ?? undefined;
      const done = json.type === 'response.completed' || json.type === 'response.incomplete' || json.type === 'response.failed';
      return usage ? { usage, done } : { done };
    },
  };
}

/** Usage, id and model of a relayed Responses API reply. */
export function responsesResult(json: unknown, fallbackModel: string): NativeResult {
  const r = isObj(json) ? json : {};
  return {
    usage: fromResponsesUsage(r.usage),
    id: typeof r.id === 'string' ? r.id : '',
    model: typeof r.model === 'string' && r.model ? r.model : fallbackModel,
  };
}
