import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { GatewayError } from '../../src/errors.ts';
import { SseSplitter } from '../../src/providers/sse.ts';
import type { SseEvent } from '../../src/providers/types.ts';

export type AnyRecord = Record<string, any>;

export const fixture = (path: string): Buffer => readFileSync(new URL(`../fixtures/${path}`, import.meta.url));
export const jsonFixture = (path: string): AnyRecord => JSON.parse(fixture(path).toString('utf8'));

/** The events of an SSE text, as the relay's splitter finds them. */
export function eventsOf(text: string | Buffer): SseEvent[] {
  return new SseSplitter(64 * 1024 * 1024).push(typeof text === 'string' ? Buffer.from(text) : text)!.events;
}

/** Parsed `data:` of each event, with the SSE event name checked against the payload's `type`. */
export function typedEvents(text: string): AnyRecord[] {
  return eventsOf(text).map((ev) => {
    const data = JSON.parse(ev.data) as AnyRecord;
    expect(ev.event).toBe(data.type);
    return data;
  });
}

export function thrown(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    return e as GatewayError;
  }
  throw new Error('expected a GatewayError');
}
