import { randomUUID } from 'node:crypto';
import { invalidRequest } from '../errors.ts';
import { Redactor } from '../redact.ts';
import { unusableReply, upstreamError } from './errors.ts';
import { requestJson } from './request-json.ts';
import type {
  ChatContext,
  ChatResult,
  EmbeddingsResult,
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

interface GeminiPart {
  text?: string;
  thought?: boolean;
  thoughtSignature?: string;
  inlineData?: { mimeType: string; data: string };
  fileData?: { mimeType: string; fileUri: string };
  functionCall?: { name: string; args?: Obj };
  functionResponse?: { name: string; response: Obj };
}

interface GeminiContent {
  role: 'user' | 'model';
  parts: GeminiPart[];
}

interface GeminiCandidate {
  content?: { parts?: GeminiPart[] };
  finishReason?: string;
  index?: number;
}

/** Tokens of one modality: TEXT, IMAGE, AUDIO, VIDEO or DOCUMENT. */
interface ModalityTokenCount {
  modality?: string;
  tokenCount?: number;
}

export interface GeminiUsageMetadata {
  promptTokenCount?: number;
  cachedContentTokenCount?: number;
  candidatesTokenCount?: number;
  toolUsePromptTokenCount?: number;
  thoughtsTokenCount?: number;
  totalTokenCount?: number;
  promptTokensDetails?: ModalityTokenCount[];
  cacheTokensDetails?: ModalityTokenCount[];
  candidatesTokensDetails?: ModalityTokenCount[];
  toolUsePromptTokensDetails?: ModalityTokenCount[];
}

interface GenerateContentResponse {
  candidates?: GeminiCandidate[];
  promptFeedback?: { blockReason?: string };
  usageMetadata?: GeminiUsageMetadata;
  modelVersion?: string;
  responseId?: string;
}

/**
 * `reasoning_effort` → `thinkingConfig.thinkingBudget` (tokens). Every budget lies inside the ranges
 * of Gemini 2.5 Flash (0–24576), Flash-Lite (512–24576) and Pro (128–32768); high is Flash's
 * maximum. Gemini 3 models still accept `thinkingBudget`. Other efforts (`minimal`, `none`) are
 * dropped: what they can mean differs per model (2.5 Pro cannot stop thinking).
 */
const thinkingBudgets = new Map([['low', 1024], ['medium', 8192], ['high', 24576]]);

/** The fields of Gemini's Schema (an OpenAPI 3.0 subset); any other key is a 400 "Unknown name". */
const schemaFields = new Set([
  'type', 'format', 'title', 'description', 'nullable', 'enum', 'items', 'minItems', 'maxItems',
  'properties', 'required', 'minProperties', 'maxProperties', 'minLength', 'maxLength', 'pattern',
  'minimum', 'maximum', 'anyOf', 'propertyOrdering', 'default', 'example',
]);

const imageTypes = new Map([
  ['png', 'image/png'], ['jpg', 'image/jpeg'], ['jpeg', 'image/jpeg'], ['gif', 'image/gif'], ['webp', 'image/webp'],
  ['heic', 'image/heic'], ['heif', 'image/heif'],
]);

const toolChoiceModes = new Map([['auto', 'AUTO'], ['none', 'NONE'], ['required', 'ANY']]);

const filterReasons = new Set([
  'SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY', 'IMAGE_PROHIBITED_CONTENT',
  'IMAGE_RECITATION',
]);

/**
 * Gemini 3 rejects a replayed functionCall part without the thoughtSignature it came with (400
 * "Function call is missing a thought_signature"). Clients that do not round-trip
 * `extra_content.google.thought_signature` get Google's documented validator-skipping value instead.
 */
const skipSignature = 'skip_thought_signature_validator';

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function dig(value: unknown, ...path: string[]): unknown {
  let v = value;
  for (const key of path) v = isObject(v) ? v[key] : undefined;
  return v;
}

/** Text of an OpenAI message content: a string, or the text of its `text` parts. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p) => (isObject(p) && p.type === 'text' && typeof p.text === 'string' ? p.text : '')).join('');
}

// Gemini rejects empty text parts ("empty text parameter").
const toGeminiText = (text: string): GeminiPart[] => (text ? [{ text }] : []);

function toGeminiImage(url: string, param: string): GeminiPart {
  if (url.startsWith('data:')) {
    const m = /^data:([^;,]+)[^,]*;base64,(.*)$/s.exec(url);
    if (!m) throw invalidRequest(`${param} must be a base64 data URL or an http(s) URL`, param);
    return { inlineData: { mimeType: m[1]!, data: m[2]! } };
  }
  if (!/^https?:\/\//i.test(url)) throw invalidRequest(`${param} must be a base64 data URL or an http(s) URL`, param);
  const ext = /\.([a-z0-9]+)$/i.exec(url.split(/[?#]/)[0]!)?.[1]?.toLowerCase() ?? '';
  return { fileData: { mimeType: imageTypes.get(ext) ?? 'image/jpeg', fileUri: url } };
}

function toGeminiUserParts(content: unknown, param: string): GeminiPart[] {
  if (!Array.isArray(content)) return toGeminiText(textOf(content));
  return content.flatMap((p, j): GeminiPart[] => {
    if (!isObject(p)) return [];
    if (p.type === 'text') return toGeminiText(typeof p.text === 'string' ? p.text : '');
    if (p.type !== 'image_url') return [];
    const url = isObject(p.image_url) ? p.image_url.url : p.image_url;
    const where = `${param}.content[${j}].image_url`;
    if (typeof url !== 'string') throw invalidRequest(`${where} must have a url`, where);
    return [toGeminiImage(url, where)];
  });
}

function toGeminiArgs(args: unknown, param: string): Obj {
  if (args === undefined || args === '') return {};
  const value = typeof args === 'string' ? safeParse(args) : args;
  if (!isObject(value)) throw invalidRequest(`${param} must be a JSON object`, param);
  return value;
}

function toGeminiModelParts(msg: Obj, param: string, toolNames: Map<string, string>, signs: boolean): GeminiPart[] {
  const parts = toGeminiText(textOf(msg.content));
  const calls: GeminiPart[] = [];
  (Array.isArray(msg.tool_calls) ? msg.tool_calls : []).forEach((call, j) => {
    const name = dig(call, 'function', 'name');
    if (typeof name !== 'string') return;
    const id = dig(call, 'id');
    if (typeof id === 'string') toolNames.set(id, name);
    const part: GeminiPart = {
      functionCall: { name, args: toGeminiArgs(dig(call, 'function', 'arguments'), `${param}.tool_calls[${j}].function.arguments`) },
    };
    const signature = dig(call, 'extra_content', 'google', 'thought_signature');
    if (typeof signature === 'string' && signature) part.thoughtSignature = signature;
    calls.push(part);
  });
  // Only the first call of a parallel batch carries a signature.
  if (signs && calls[0] && !calls.some((c) => c.thoughtSignature)) calls[0].thoughtSignature = skipSignature;
  return [...parts, ...calls];
}

function toGeminiFunctionResponse(msg: Obj, param: string, toolNames: Map<string, string>): GeminiPart {
  const id = msg.tool_call_id;
  const name = typeof id === 'string' ? toolNames.get(id) : undefined;
  if (name === undefined) {
    throw invalidRequest(`${param}.tool_call_id does not match a tool call of an earlier assistant message`, `${param}.tool_call_id`);
  }
  const text = textOf(msg.content);
  const response = safeParse(text);
  // functionResponse.response must be a JSON object.
  return { functionResponse: { name, response: isObject(response) ? response : { content: text } } };
}

function toGeminiContents(messages: unknown, model: string) {
  const system: GeminiPart[] = [];
  const contents: GeminiContent[] = [];
  const toolNames = new Map<string, string>();
  const signs = !/^gemini-[12][.-]/.test(model);
  const push = (role: GeminiContent['role'], parts: GeminiPart[]) => {
    if (!parts.length) return;
    const last = contents.at(-1);
    // Gemini wants alternating turns, and every functionResponse of a parallel batch in one turn.
    if (last?.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  (Array.isArray(messages) ? messages : []).forEach((msg, i) => {
    if (!isObject(msg)) return;
    const param = `messages[${i}]`;
    if (msg.role === 'system' || msg.role === 'developer') system.push(...toGeminiText(textOf(msg.content)));
    else if (msg.role === 'user') push('user', toGeminiUserParts(msg.content, param));
    else if (msg.role === 'assistant') push('model', toGeminiModelParts(msg, param, toolNames, signs));
    else if (msg.role === 'tool') push('user', [toGeminiFunctionResponse(msg, param, toolNames)]);
  });
  return { contents, systemInstruction: system.length ? { parts: system } : undefined };
}

/** Keeps the JSON-Schema keywords Gemini's Schema knows, recursively; `type: [t, 'null']` becomes nullable. */
function toGeminiSchema(schema: unknown): unknown {
  if (!isObject(schema)) return schema;
  const out: Obj = {};
  for (const [key, value] of Object.entries(schema)) {
    if (!schemaFields.has(key)) continue;
    if (key === 'properties' && isObject(value)) {
      out.properties = Object.fromEntries(Object.entries(value).map(([name, s]) => [name, toGeminiSchema(s)]));
    } else if (key === 'items') out.items = toGeminiSchema(value);
    else if (key === 'anyOf' && Array.isArray(value)) out.anyOf = value.map(toGeminiSchema);
    else if (key === 'type' && Array.isArray(value)) {
      const types = value.filter((t) => t !== 'null');
      if (types.length === 1) out.type = types[0];
      if (types.length < value.length) out.nullable = true;
    } else out[key] = value;
  }
  return out;
}

function toGeminiTools(tools: unknown) {
  const declarations = (Array.isArray(tools) ? tools : []).flatMap((tool) => {
    if (!isObject(tool) || tool.type !== 'function' || !isObject(tool.function)) return [];
    const { name, description, parameters } = tool.function;
    if (typeof name !== 'string') return [];
    const declaration: Obj = { name };
    if (typeof description === 'string') declaration.description = description;
    const schema = toGeminiSchema(parameters);
    // An object schema with no properties is a 400 ("should be non-empty for OBJECT type").
    const properties = dig(schema, 'properties');
    const emptyObject = dig(schema, 'type') === 'object' && !(isObject(properties) && Object.keys(properties).length);
    if (isObject(schema) && !emptyObject) declaration.parameters = schema;
    return [declaration];
  });
  return declarations.length ? [{ functionDeclarations: declarations }] : undefined;
}

function toGeminiToolConfig(choice: unknown) {
  const mode = typeof choice === 'string' ? toolChoiceModes.get(choice) : undefined;
  if (mode) return { functionCallingConfig: { mode } };
  const name = dig(choice, 'function', 'name');
  if (typeof name === 'string') return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [name] } };
  return undefined;
}

function toGeminiGenerationConfig(body: Obj): Obj {
  const config: Obj = {};
  const numbers: [string, string][] = [
    ['temperature', 'temperature'], ['top_p', 'topP'], ['top_k', 'topK'], ['max_tokens', 'maxOutputTokens'],
    ['max_completion_tokens', 'maxOutputTokens'], ['n', 'candidateCount'], ['presence_penalty', 'presencePenalty'],
    ['frequency_penalty', 'frequencyPenalty'], ['seed', 'seed'],
  ];
  // max_completion_tokens comes after max_tokens, so it wins when both are given.
  for (const [from, to] of numbers) if (typeof body[from] === 'number') config[to] = body[from];
  if (typeof body.stop === 'string') config.stopSequences = [body.stop];
  else if (Array.isArray(body.stop)) config.stopSequences = body.stop.filter((s) => typeof s === 'string');
  const format = dig(body, 'response_format', 'type');
  if (format === 'json_object' || format === 'json_schema') config.responseMimeType = 'application/json';
  const schema = dig(body, 'response_format', 'json_schema', 'schema');
  if (format === 'json_schema' && isObject(schema)) config.responseSchema = toGeminiSchema(schema);
  const budget = typeof body.reasoning_effort === 'string' ? thinkingBudgets.get(body.reasoning_effort) : undefined;
  if (budget !== undefined) config.thinkingConfig = { thinkingBudget: budget };
  return config;
}

/** Token counts by modality, from a `*TokensDetails` list. */
function byModality(details: unknown): Record<string, number> {
  const counts: Record<string, number> = {};
  if (Array.isArray(details)) {
    for (const d of details) if (isObject(d) && typeof d.modality === 'string' && typeof d.tokenCount === 'number') counts[d.modality] = (counts[d.modality] ?? 0) + d.tokenCount;
  }
  return counts;
}

/**
 * The `*TokensDetails` lists break the prompt (cache included), the cached part, the tool-use
 * prompt and the candidates down by modality; audio, images (documents are billed as images) and
 * video go to `detail`, and every modality but text, the ordinary rate, to `raw`.
 */
export function fromGeminiUsage(u: GeminiUsageMetadata): TokenUsage {
  const n = (v: unknown) => (typeof v === 'number' ? v : 0);
  const thoughts = n(u.thoughtsTokenCount);
  // promptTokenCount already includes the cached tokens; candidatesTokenCount excludes the thoughts.
  const inputTokens = n(u.promptTokenCount) + n(u.toolUsePromptTokenCount);
  const outputTokens = n(u.candidatesTokenCount) + thoughts;
  const raw: Record<string, Json> = {};
  if (typeof u.cachedContentTokenCount === 'number') raw.cached_content_token_count = u.cachedContentTokenCount;
  if (typeof u.thoughtsTokenCount === 'number') raw.thoughts_token_count = u.thoughtsTokenCount;
  if (typeof u.toolUsePromptTokenCount === 'number') raw.tool_use_prompt_token_count = u.toolUsePromptTokenCount;
  const lists = {
    prompt: byModality(u.promptTokensDetails),
    tool_use_prompt: byModality(u.toolUsePromptTokensDetails),
    cache: byModality(u.cacheTokensDetails),
    candidates: byModality(u.candidatesTokensDetails),
  };
  for (const [name, counts] of Object.entries(lists)) {
    for (const [modality, count] of Object.entries(counts)) if (modality !== 'TEXT' && count > 0) raw[`${name}_${modality.toLowerCase()}_token_count`] = count;
  }
  const count = (list: Record<string, number>, ...modalities: string[]) => modalities.reduce((sum, m) => sum + (list[m] ?? 0), 0);
  const input = (...modalities: string[]) => count(lists.prompt, ...modalities) + count(lists.tool_use_prompt, ...modalities);
  const detail: UsageDetail = {};
  const set = (field: keyof UsageDetail, value: number) => {
    if (value > 0) detail[field] = value;
  };
  set('audioInputTokens', input('AUDIO'));
  set('imageInputTokens', input('IMAGE', 'DOCUMENT'));
  set('videoInputTokens', input('VIDEO'));
  set('audioOutputTokens', count(lists.candidates, 'AUDIO'));
  set('imageOutputTokens', count(lists.candidates, 'IMAGE', 'DOCUMENT'));
  set('videoOutputTokens', count(lists.candidates, 'VIDEO'));
  // How much of the cache was audio or image only cacheTokensDetails tells, and there zero is an answer.
  if (Array.isArray(u.cacheTokensDetails)) {
    if (detail.audioInputTokens) detail.cachedAudioInputTokens = count(lists.cache, 'AUDIO');
    if (detail.imageInputTokens) detail.cachedImageInputTokens = count(lists.cache, 'IMAGE', 'DOCUMENT');
  }
  return {
    inputTokens,
    cachedInputTokens: n(u.cachedContentTokenCount),
    cacheWriteInputTokens: 0,
    outputTokens,
    reasoningTokens: thoughts,
    totalTokens: typeof u.totalTokenCount === 'number' ? u.totalTokenCount : inputTokens + outputTokens,
    ...(Object.keys(detail).length > 0 && { detail }),
    raw,
  };
}

const toOpenAIUsage = (u: TokenUsage) => ({
  prompt_tokens: u.inputTokens,
  completion_tokens: u.outputTokens,
  total_tokens: u.totalTokens,
  prompt_tokens_details: { cached_tokens: u.cachedInputTokens },
  completion_tokens_details: { reasoning_tokens: u.reasoningTokens },
});

function fromGeminiFinishReason(reason: string): string {
  if (reason === 'STOP') return 'stop';
  if (reason === 'MAX_TOKENS') return 'length';
  return filterReasons.has(reason) ? 'content_filter' : reason.toLowerCase();
}

/**
 * Text and tool calls of a candidate's parts. Thought parts (`thought: true`) are summaries of the
 * model's reasoning, not the answer, and are left out. Tool calls are numbered from `firstCall`.
 */
function fromGeminiParts(parts: GeminiPart[], firstCall: number) {
  let text = '';
  const toolCalls: Obj[] = [];
  for (const part of parts) {
    if (part.functionCall) {
      const call: Obj = {
        id: `call_${firstCall + toolCalls.length}`,
        type: 'function',
        function: { name: part.functionCall.name, arguments: JSON.stringify(part.functionCall.args ?? {}) },
      };
      // Google's own OpenAI-compatible endpoint carries the signature under this name.
      if (part.thoughtSignature) call.extra_content = { google: { thought_signature: part.thoughtSignature } };
      toolCalls.push(call);
    } else if (typeof part.text === 'string' && !part.thought) text += part.text;
  }
  return { text, toolCalls };
}

const generatedId = () => `gemini-${randomUUID()}`;
const now = () => Math.floor(Date.now() / 1000);

function streamTranslator(config: ProviderConfig, ctx: ChatContext, redactor: Redactor): StreamTranslator {
  const created = now();
  let id = '';
  let model = '';
  const started = new Set<number>();
  const callCounts = new Map<number, number>();
  let usage: TokenUsage | undefined;
  let finished = false;
  let usageSent = false;

  const chunk = (choices: Obj[]): Obj => ({ id, object: 'chat.completion.chunk', created, model, choices });

  const choiceOf = (candidate: GeminiCandidate, position: number): Obj[] => {
    const index = candidate.index ?? position;
    const calls = callCounts.get(index) ?? 0;
    const { text, toolCalls } = fromGeminiParts(candidate.content?.parts ?? [], calls);
    callCounts.set(index, calls + toolCalls.length);
    const delta: Obj = {};
    if (!started.has(index)) delta.role = 'assistant';
    started.add(index);
    if (text) delta.content = text;
    if (toolCalls.length) delta.tool_calls = toolCalls.map((call, k) => ({ index: calls + k, ...call }));
    let finish: string | null = null;
    if (candidate.finishReason) {
      finish = calls + toolCalls.length ? 'tool_calls' : fromGeminiFinishReason(candidate.finishReason);
      finished = true;
    }
    return Object.keys(delta).length || finish ? [{ index, delta, finish_reason: finish, logprobs: null }] : [];
  };

  return {
    get id() {
      return id;
    },
    get model() {
      return model;
    },
    event(ev: SseEvent): StreamStep {
      const json = safeParse(ev.data);
      if (!isObject(json)) return { chunks: [], error: unusableReply(config.name, 'a stream event is not a JSON object', ev.data) };
      if (json.error !== undefined) {
        const code = dig(json, 'error', 'code');
        return { chunks: [], error: upstreamError(config.name, redactor, typeof code === 'number' ? code : 500, ev.data) };
      }
      const res = json as GenerateContentResponse;
      id ||= res.responseId ?? generatedId();
      model ||= res.modelVersion ?? ctx.model;
      if (res.usageMetadata) usage = fromGeminiUsage(res.usageMetadata);
      const candidates = res.candidates ?? [];
      const choices = candidates.flatMap(choiceOf);
      if (!candidates.length && res.promptFeedback?.blockReason) {
        choices.push({ index: 0, delta: { role: 'assistant' }, finish_reason: 'content_filter', logprobs: null });
        finished = true;
      }
      const chunks = choices.length ? [chunk(choices)] : [];
      if (ctx.includeUsage && finished && usage && !usageSent) {
        chunks.push({ ...chunk([]), usage: toOpenAIUsage(usage) });
        usageSent = true;
      }
      return res.usageMetadata ? { chunks, usage } : { chunks };
    },
  };
}

/** `redactor` scrubs its error replies (the gateway passes one holding every configured secret). */
export function createGeminiAdapter(config: ProviderConfig, redactor = new Redactor([config.apiKey])): ProviderAdapter {
  // The key travels in a header, never as `?key=`: URLs end up in logs.
  const auth: Record<string, string> = config.apiKey ? { 'x-goog-api-key': config.apiKey } : {};
  const post = (path: string, body: unknown): UpstreamRequest => ({
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json', ...auth },
    body: requestJson(body),
  });
  const modelPath = (model: string) => `/models/${encodeURIComponent(model)}`;

  return {
    config,
    nativeApis: [],
    authHeaders: auth,

    chatRequest(body, ctx) {
      const { contents, systemInstruction } = toGeminiContents(body.messages, ctx.model);
      const request: Obj = { contents };
      if (systemInstruction) request.systemInstruction = systemInstruction;
      const tools = toGeminiTools(body.tools);
      if (tools) request.tools = tools;
      const toolConfig = toGeminiToolConfig(body.tool_choice);
      if (toolConfig) request.toolConfig = toolConfig;
      const generationConfig = toGeminiGenerationConfig(body);
      if (Object.keys(generationConfig).length) request.generationConfig = generationConfig;
      const method = ctx.stream ? ':streamGenerateContent?alt=sse' : ':generateContent';
      return post(`${modelPath(ctx.model)}${method}`, request);
    },

    chatResponse(json, ctx): ChatResult {
      if (!isObject(json)) throw unusableReply(config.name, 'the reply is not a JSON object', json);
      const res = json as GenerateContentResponse;
      const candidates = res.candidates ?? [];
      let choices: Obj[];
      if (candidates.length) {
        choices = candidates.map((c, i) => {
          const { text, toolCalls } = fromGeminiParts(c.content?.parts ?? [], 0);
          const message: Obj = { role: 'assistant', content: text || null };
          if (toolCalls.length) message.tool_calls = toolCalls;
          const finish = toolCalls.length ? 'tool_calls' : c.finishReason ? fromGeminiFinishReason(c.finishReason) : null;
          return { index: c.index ?? i, message, finish_reason: finish, logprobs: null };
        });
      } else if (res.promptFeedback?.blockReason) {
        // A blocked prompt is an answer, not a failure: OpenAI reports it the same way.
        choices = [{ index: 0, message: { role: 'assistant', content: null }, finish_reason: 'content_filter', logprobs: null }];
      } else throw unusableReply(config.name, 'the reply has no candidates', json);
      const usage = res.usageMetadata ? fromGeminiUsage(res.usageMetadata) : null;
      const id = res.responseId ?? generatedId();
      const model = res.modelVersion ?? ctx.model;
      const response: Obj = { id, object: 'chat.completion', created: now(), model, choices };
      if (usage) response.usage = toOpenAIUsage(usage);
      return { response, usage, id, model };
    },

    chatStream: (ctx) => streamTranslator(config, ctx, redactor),

    embeddingsRequest(body, model) {
      const input = body.input;
      const texts = typeof input === 'string' ? [input] : input;
      if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string')) {
        throw invalidRequest('Gemini embeddings take `input` as a string or an array of strings, not token arrays', 'input');
      }
      const dimensions = typeof body.dimensions === 'number' ? { outputDimensionality: body.dimensions } : {};
      const requests = texts.map((text) => ({ model: `models/${model}`, content: { parts: [{ text }] }, ...dimensions }));
      return post(`${modelPath(model)}:batchEmbedContents`, { requests });
    },

    embeddingsResponse(json, model): EmbeddingsResult {
      const embeddings = dig(json, 'embeddings');
      if (!Array.isArray(embeddings)) throw unusableReply(config.name, 'the reply has no embeddings', json);
      const data = embeddings.map((e, index) => {
        const values = dig(e, 'values');
        if (!Array.isArray(values)) throw unusableReply(config.name, `embedding ${index} has no values`, json);
        return { object: 'embedding', index, embedding: values };
      });
      // batchEmbedContents reports no token counts, so there is no usage to record.
      const response = { object: 'list', data, model, usage: { prompt_tokens: 0, total_tokens: 0 } };
      return { response, usage: null, model };
    },

    modelsRequest: () => ({ method: 'GET', path: '/models?pageSize=1000', headers: { ...auth } }),

    modelsResponse(json) {
      if (!isObject(json)) throw unusableReply(config.name, 'the model list is not a JSON object', json);
      const models = Array.isArray(json.models) ? json.models : [];
      return models.flatMap((m) => {
        const name = dig(m, 'name');
        return typeof name === 'string' ? [name.replace(/^models\//, '')] : [];
      });
    },

    error(status, body) {
      // Gemini answers a bad key with 400 INVALID_ARGUMENT; it is a credential failure all the same.
      const details = dig(safeParse(body), 'error', 'details');
      const badKey = Array.isArray(details) && details.some((d) => dig(d, 'reason') === 'API_KEY_INVALID');
      return upstreamError(config.name, redactor, badKey ? 401 : status, body);
    },
  };
}
