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

/**
 * The end of the last blank line (`\n\n`, `\r\n\r\n` or a mix) in `piece`, or -1. `last` and
 * `beforeLast` are the two bytes held before it (-1 for none), for a blank line that began in the
 * previous chunk.
 */
function lastBoundaryEnd(piece: Buffer, last: number, beforeLast: number): number {
  for (let i = piece.length - 1; i >= 0; i--) {
    if (piece[i] !== LF) continue;
    const p1 = i >= 1 ? piece[i - 1] : last;
    if (p1 === LF) return i + 1;
    if (p1 === CR && (i >= 2 ? piece[i - 2] : i === 1 ? last : beforeLast) === LF) return i + 1;
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
 *
 * Linear in the bytes received: each chunk is searched once, the bytes of an unfinished event are
 * kept as the chunks they came in and joined once, when it completes. An event that grows past
 * `maxEventBytes` is refused (`push` returns null) and what was held of it dropped: a provider
 * that never ends an event costs at most that much memory.
 */
export class SseSplitter {
  private held: Buffer[] = [];
  private heldBytes = 0;
  private last = -1;
  private beforeLast = -1;

  constructor(private readonly maxEventBytes: number) {}

  private hold(piece: Buffer): void {
    this.held.push(piece);
    this.heldBytes += piece.length;
    if (piece.length >= 2) this.beforeLast = piece[piece.length - 2]!;
    else this.beforeLast = this.last;
    this.last = piece[piece.length - 1]!;
  }

  push(chunk: Uint8Array): { bytes: Buffer; events: SseEvent[] } | null {
    const piece = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (piece.length === 0) return NONE;
    const end = lastBoundaryEnd(piece, this.last, this.beforeLast);
    if (end < 0) {
      if (this.heldBytes + piece.length > this.maxEventBytes) {
        this.held = [];
        this.heldBytes = 0;
        return null;
      }
      this.hold(piece);
      return NONE;
    }
    const head = end < piece.length ? piece.subarray(0, end) : piece;
    const bytes = this.heldBytes ? Buffer.concat([...this.held, head], this.heldBytes + end) : head;
    this.held = [];
    this.heldBytes = 0;
    this.last = this.beforeLast = -1;
    if (end < piece.length) this.hold(piece.subarray(end));
    return { bytes, events: parseEvents(bytes.toString('utf8')) };
  }

  /** Text of an event the stream ended in the middle of ('' when it ended cleanly). */
  rest(): string {
    return this.heldBytes ? Buffer.concat(this.held, this.heldBytes).toString('utf8') : '';
  }
}
