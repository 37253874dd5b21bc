import type { SseEvent } from './types.ts';

const boundary = /\r?\n\r?\n/g;

/** Parses the text of complete server-sent events. Comments and unknown fields are ignored. */
function parseEvents(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  for (const block of text.split(boundary)) {
    if (!block) continue;
    let event: string | undefined;
    let data: string | undefined;
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('data:')) {
        const v = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
        data = data === undefined ? v : `${data}\n${v}`;
      } else if (line.startsWith('event:')) event = line.slice(line.charCodeAt(6) === 32 ? 7 : 6);
    }
    if (data !== undefined) events.push(event === undefined ? { data } : { event, data });
  }
  return events;
}

/**
 * Splits a byte stream into whole server-sent events. `push` returns the text of the events that
 * completed with this chunk (to forward unchanged) and the events parsed from it; an event split
 * across chunks is held back until its blank line arrives.
 */
export class SseSplitter {
  private readonly decoder = new TextDecoder();
  private pending = '';

  push(chunk: Uint8Array): { text: string; events: SseEvent[] } {
    this.pending += this.decoder.decode(chunk, { stream: true });
    let end = -1;
    boundary.lastIndex = 0;
    for (let m = boundary.exec(this.pending); m; m = boundary.exec(this.pending)) end = m.index + m[0].length;
    if (end < 0) return { text: '', events: [] };
    const text = this.pending.slice(0, end);
    this.pending = this.pending.slice(end);
    return { text, events: parseEvents(text) };
  }

  /** Text of an event the stream ended in the middle of ('' when it ended cleanly). */
  rest(): string {
    return this.pending + this.decoder.decode();
  }
}
