import type { GatewayError } from '../errors.ts';
import type { TokenUsage } from '../providers/types.ts';
import { itemId, responseShell, responseStatus } from './responses.ts';
import type { Obj, StreamEncoder } from './types.ts';
import { isObj, toResponsesUsage } from './usage.ts';

interface OpenItem {
  kind: 'message' | 'reasoning' | 'function_call';
  outputIndex: number;
  item: Obj;
  /** Text, reasoning summary or arguments so far. */
  text: string;
}

/**
 * Writes chat completion chunks as the Responses API's typed events, in the order OpenAI sends
 * them: `response.created`, `response.in_progress`, then per output item `output_item.added`, its
 * part and deltas, their `.done` events and `output_item.done`, and last `response.completed` (or
 * `response.incomplete`) with the whole response and its usage. Every event carries its
 * `sequence_number`. Only the first choice is written: the Responses API has no `n`.
 */
export class ResponsesEncoder implements StreamEncoder {
  private seq = 0;
  private shell: Obj | null = null;
  private readonly output: Obj[] = [];
  private current: OpenItem | null = null;
  /** Function calls by their chat `tool_calls` index; they stay open until another item starts. */
  private readonly calls = new Map<number, OpenItem>();
  private finishReason: unknown = null;

  constructor(private readonly request: Obj) {}

  private ev(type: string, data: Obj): string {
    return `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: this.seq++, ...data })}\n\n`;
  }

  private start(model: unknown): string {
    if (this.shell) return '';
    const created = Math.floor(Date.now() / 1000);
    this.shell = responseShell(this.request, itemId('resp'), typeof model === 'string' && model ? model : String(this.request.model), created);
    return this.ev('response.created', { response: this.shell }) + this.ev('response.in_progress', { response: this.shell });
  }

  private open(kind: OpenItem['kind'], item: Obj): OpenItem {
    const open = { kind, outputIndex: this.output.length, item, text: '' };
    this.output.push(item);
    return open;
  }

  private added(open: OpenItem): string {
    return this.ev('response.output_item.added', { output_index: open.outputIndex, item: { ...open.item } });
  }

  private itemDone(open: OpenItem): string {
    open.item.status = 'completed';
    return this.ev('response.output_item.done', { output_index: open.outputIndex, item: open.item });
  }

  private close(open: OpenItem): string {
    const at = { item_id: open.item.id, output_index: open.outputIndex };
    if (open.kind === 'message') {
      const part = { type: 'output_text', text: open.text, annotations: [], logprobs: [] };
      open.item.content = [part];
      return this.ev('response.output_text.done', { ...at, content_index: 0, text: open.text, logprobs: [] }) + this.ev('response.content_part.done', { ...at, content_index: 0, part }) + this.itemDone(open);
    }
    if (open.kind === 'reasoning') {
      const part = { type: 'summary_text', text: open.text };
      open.item.summary = [part];
      return this.ev('response.reasoning_summary_text.done', { ...at, summary_index: 0, text: open.text }) + this.ev('response.reasoning_summary_part.done', { ...at, summary_index: 0, part }) + this.itemDone(open);
    }
    open.item.arguments = open.text;
    return this.ev('response.function_call_arguments.done', { ...at, name: open.item.name, arguments: open.text }) + this.itemDone(open);
  }

  /** Closes the open message or reasoning item, and the function calls, before another kind of item starts. */
  private closeAll(): string {
    let out = this.current ? this.close(this.current) : '';
    this.current = null;
    for (const call of this.calls.values()) out += this.close(call);
    this.calls.clear();
    return out;
  }

  private reasoning(delta: string): string {
    let out = '';
    if (this.current?.kind !== 'reasoning') {
      out += this.closeAll();
      const open = (this.current = this.open('reasoning', { id: itemId('rs'), type: 'reasoning', summary: [] }));
      out += this.added(open);
      out += this.ev('response.reasoning_summary_part.added', { item_id: open.item.id, output_index: open.outputIndex, summary_index: 0, part: { type: 'summary_text', text: '' } });
    }
    const open = this.current!;
    open.text += delta;
    return out + this.ev('response.reasoning_summary_text.delta', { item_id: open.item.id, output_index: open.outputIndex, summary_index: 0, delta });
  }

  private text(delta: string): string {
    let out = '';
    if (this.current?.kind !== 'message') {
      out += this.closeAll();
      const open = (this.current = this.open('message', { id: itemId('msg'), type: 'message', status: 'in_progress', role: 'assistant', content: [] }));
      out += this.added(open);
      out += this.ev('response.content_part.added', { item_id: open.item.id, output_index: open.outputIndex, content_index: 0, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } });
    }
    const open = this.current!;
    open.text += delta;
    return out + this.ev('response.output_text.delta', { item_id: open.item.id, output_index: open.outputIndex, content_index: 0, delta, logprobs: [] });
  }

  private toolCall(call: Obj): string {
    const index = typeof call.index === 'number' ? call.index : 0;
    const fn = isObj(call.function) ? call.function : {};
    let out = '';
    let open = this.calls.get(index);
    if (!open) {
      if (this.current) out += this.close(this.current);
      this.current = null;
      const item = { id: itemId('fc'), type: 'function_call', status: 'in_progress', call_id: typeof call.id === 'string' ? call.id : itemId('call'), name: typeof fn.name === 'string' ? fn.name : '', arguments: '' };
      open = this.open('function_call', item);
      this.calls.set(index, open);
      out += this.added(open);
    }
    if (typeof fn.arguments === 'string' && fn.arguments) {
      open.text += fn.arguments;
      out += this.ev('response.function_call_arguments.delta', { item_id: open.item.id, output_index: open.outputIndex, delta: fn.arguments });
    }
    return out;
  }

  chunk(chunk: Obj): string {
    let out = this.start(chunk.model);
    const choice = Array.isArray(chunk.choices) ? chunk.choices.find((c) => isObj(c) && (c.index ?? 0) === 0) : undefined;
    if (!isObj(choice)) return out;
    const delta = isObj(choice.delta) ? choice.delta : {};
    if (typeof delta.reasoning_content === 'string' && delta.reasoning_content) out += this.reasoning(delta.reasoning_content);
    if (typeof delta.content === 'string' && delta.content) out += this.text(delta.content);
    if (typeof delta.refusal === 'string' && delta.refusal) out += this.text(delta.refusal);
    if (Array.isArray(delta.tool_calls)) for (const call of delta.tool_calls) if (isObj(call)) out += this.toolCall(call);
    if (choice.finish_reason) this.finishReason = choice.finish_reason;
    return out;
  }

  end(usage: TokenUsage | undefined): string {
    const out = this.start(undefined) + this.closeAll();
    const status = responseStatus(this.finishReason);
    const response = { ...this.shell, ...status, output: this.output, usage: usage ? toResponsesUsage(usage) : null };
    return out + this.ev(status.status === 'completed' ? 'response.completed' : 'response.incomplete', { response });
  }

  fail(err: GatewayError): string {
    return this.ev('error', { code: err.code, message: err.message, param: err.param });
  }
}
