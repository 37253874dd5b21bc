import { describe, expect, it } from 'vitest';
import { SseSplitter } from '../../src/providers/sse.ts';

/** Pushes `text` in slices of `size` bytes; returns the events and the bytes passed on. */
function feed(text: string, size: number) {
  const bytes = Buffer.from(text, 'utf8');
  const splitter = new SseSplitter();
  const events = [];
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) {
    const step = splitter.push(bytes.subarray(i, i + size));
    events.push(...step.events);
    out.push(step.bytes);
  }
  return { events, forwarded: Buffer.concat(out).toString('utf8'), rest: splitter.rest() };
}

describe('SseSplitter', () => {
  const stream = 'event: delta\ndata: {"t":"zażółć 🦊"}\n\ndata: a\r\ndata: b\r\n\r\n: comment\n\ndata: [DONE]\n\n';

  it.each([1, 2, 3, 5, 7, 64, 1000])('splits the same events whatever the slices (%i bytes)', (size) => {
    const { events, forwarded, rest } = feed(stream, size);
    expect(events).toEqual([{ event: 'delta', data: '{"t":"zażółć 🦊"}' }, { data: 'a\nb' }, { data: '[DONE]' }]);
    expect(forwarded).toBe(stream);
    expect(rest).toBe('');
  });

  it('holds back an event until its blank line, and reports what a stream ended in the middle of', () => {
    const splitter = new SseSplitter();
    expect(splitter.push(Buffer.from('data: one\n\ndata: tw')).events).toEqual([{ data: 'one' }]);
    expect(splitter.push(Buffer.from('o\n')).events).toEqual([]);
    expect(splitter.rest()).toBe('data: two\n');
    const last = splitter.push(Buffer.from('\n'));
    expect(last.events).toEqual([{ data: 'two' }]);
    expect(last.bytes.toString()).toBe('data: two\n\n');
    expect(splitter.rest()).toBe('');
  });
});
