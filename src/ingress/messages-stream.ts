import type { GatewayError } from '../errors.ts';
import type { TokenUsage } from '../providers/types.ts';
import { anthropicErrorBody } from './errors.ts';
import { toStopReason } from './messages.ts';
import { itemId } from './responses.ts';
import type { Obj, StreamEncoder } from './types.ts';
import { isObj, toMessagesUsage } from './usage.ts';

type BlockKind = 'text' | 'thinking' | 'tool_use';

const noUsage: TokenUsage = { inputTokens: 0, cachedInputTokens: 0, cacheWriteInputTokens: 0, outputTokens: 0, reasoningTokens: 0, totalTokens: 0, raw: {} };

/**
 * Writes chat completion chunks as Anthropic's stream: `message_start`, then per content block
 * `content_block_start`, its deltas (`text_delta`, `thinking_delta`, `input_json_delta`) and
 * `content_block_stop`, then `message_delta` with the stop reason and the usage, and
 * `message_stop`. Chat providers report usage at the end, so `message_start` carries zero counts
 * and `message_delta` the whole usage, input and cache counts included (as Anthropic's own
 * `message_delta` does).
 */
export class MessagesEncoder implements StreamEncoder {
  private started = false;
  private index = -1;
  private kind: BlockKind | null = null;
  /** The content block index of each chat tool-call index. */
  private readonly toolBlocks = new Map<number, number>();
  private finishReason: unknown = null;

  constructor(private readonly request: Obj) {}

  private ev(type: string, data: Obj): string {
    return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  }

  private start(model: unknown): string {
    if (this.started) return '';
    this.started = true;
    const message = {
      id: itemId('msg'),
      type: 'message',
      role: 'assistant',
      model: typeof model === 'string' && model ? model : this.request.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: toMessagesUsage(noUsage),
    };
    return this.ev('message_start', { message });
  }

  private stop(): string {
    if (this.kind === null) return '';
    this.kind = null;
    return this.ev('content_block_stop', { index: this.index });
  }

  private block(kind: BlockKind, contentBlock: Obj): string {
    const out = this.stop();
    this.kind = kind;
    this.index++;
    return out + this.ev('content_block_start', { index: this.index, content_block: contentBlock });
  }

  private toolCall(call: Obj): string {
    const fn = isObj(call.function) ? call.function : {};
    const chatIndex = typeof call.index === 'number' ? call.index : 0;
    let out = '';
    let index = this.toolBlocks.get(chatIndex);
    if (index === undefined) {
      out += this.block('tool_use', { type: 'tool_use', id: typeof call.id === 'string' ? call.id : itemId('toolu'), name: fn.name, input: {} });
      index = this.index;
      this.toolBlocks.set(chatIndex, index);
    }
    if (typeof fn.arguments === 'string' && fn.arguments) {
      out += this.ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: fn.arguments } });
    }
    return out;
  }

  chunk(chunk: Obj): string {
    let out = this.start(chunk.model);
    const choice = Array.isArray(chunk.choices) ? chunk.choices.find((c) => isObj(c) && (c.index ?? 0) === 0) : undefined;
    if (!isObj(choice)) return out;
    const delta = isObj(choice.delta) ? choice.delta : {};
    if (typeof delta.reasoning_content === 'string' && delta.reasoning_content) {
      if (this.kind !== 'thinking') out += this.block('thinking', { type: 'thinking', thinking: '', signature: '' });
      out += this.ev('content_block_delta', { index: this.index, delta: { type: 'thinking_delta', thinking: delta.reasoning_content } });
    }
    if (typeof delta.content === 'string' && delta.content) {
      if (this.kind !== 'text') out += this.block('text', { type: 'text', text: '' });
      out += this.ev('content_block_delta', { index: this.index, delta: { type: 'text_delta', text: delta.content } });
    }
    if (Array.isArray(delta.tool_calls)) for (const call of delta.tool_calls) if (isObj(call)) out += this.toolCall(call);
    if (choice.finish_reason) this.finishReason = choice.finish_reason;
    return out;
  }

  end(usage: TokenUsage | undefined): string {
    const out = this.start(undefined) + this.stop();
    return (
      out +
      this.ev('message_delta', { delta: { stop_reason: toStopReason(this.finishReason), stop_sequence: null }, usage: toMessagesUsage(usage ?? noUsage) }) +
      this.ev('message_stop', {})
    );
  }

  fail(err: GatewayError): string {
    return this.ev('error', anthropicErrorBody(err) as Obj);
  }
}
