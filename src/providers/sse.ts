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

const LF = 10;
const CR = 13;

/** The end of the last blank line (`\n\n`, `\r\n\r\n` or a mix) ending at or after `from`, or -1. */
function lastBoundaryEnd(buf: Buffer, from: number): number {
  for (let i = buf.length - 1; i >= from && i > 0; i--) {
    if (buf[i] !== LF) continue;
    if (buf[i - 1] === LF || (buf[i - 1] === CR && i > 1 && buf[i - 2] === LF)) return i + 1;
  }
  return -1;
}

const NONE = { bytes: Buffer.alloc(0), events: [] as SseEvent[] };

/**
 * Splits a byte stream into whole server-sent events. `push` returns the bytes of the events that
 * completed with this chunk (to forward unchanged, without decoding and encoding them again) and
 * the events parsed from them; an event split across chunks is held back until its blank line
 * arrives. Boundaries are found in the bytes: a newline is never part of a multi-byte UTF-8
 * character, so the text before one always decodes whole.
 */
export class SseSplitter {
  private pending: Buffer | null = null;

  push(chunk: Uint8Array): { bytes: Buffer; events: SseEvent[] } {
    const piece = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const held = this.pending?.length ?? 0;
    const buf = this.pending ? Buffer.concat([this.pending, piece], held + piece.length) : piece;
    // What was held has no boundary of its own, but one may end in the first bytes of this chunk.
    const end = lastBoundaryEnd(buf, held);
    if (end < 0) {
      this.pending = buf;
      return NONE;
    }
    this.pending = end < buf.length ? buf.subarray(end) : null;
    const bytes = end < buf.length ? buf.subarray(0, end) : buf;
    return { bytes, events: parseEvents(bytes.toString('utf8')) };
  }

  /** Text of an event the stream ended in the middle of ('' when it ended cleanly). */
  rest(): string {
    return this.pending ? this.pending.toString('utf8') : '';
  }
}
