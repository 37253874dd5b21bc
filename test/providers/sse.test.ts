import { describe, expect, it } from 'vitest';
import { SseSplitter } from '../../src/providers/sse.ts';

/** Pushes `text` in slices of `size` bytes; returns the events and the bytes passed on. */
function feed(text: string, size: number) {
  const bytes = Buffer.from(text, 'utf8');
  const splitter = new SseSplitter(1 << 20);
  const events = [];
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) {
    const step = splitter.push(bytes.subarray(i, i + size))!;
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
    const splitter = new SseSplitter(1 << 20);
    expect(splitter.push(Buffer.from('data: one\n\ndata: tw'))!.events).toEqual([{ data: 'one' }]);
    expect(splitter.push(Buffer.from('o\n'))!.events).toEqual([]);
    expect(splitter.rest()).toBe('data: two\n');
    const last = splitter.push(Buffer.from('\n'))!;
    expect(last.events).toEqual([{ data: 'two' }]);
    expect(last.bytes.toString()).toBe('data: two\n\n');
    expect(splitter.rest()).toBe('');
  });

  it('joins an event held over many chunks once it ends, and refuses one that grows past the limit, having held no more', () => {
    const limit = 1 << 20;
    const splitter = new SseSplitter(limit);
    const text = `data: ${'x'.repeat(300_000)}`;
    for (let i = 0; i < text.length; i += 1000) expect(splitter.push(Buffer.from(text.slice(i, i + 1000)))!.events).toEqual([]);
    const step = splitter.push(Buffer.from('\r\n\r\n'))!;
    expect(step.events).toEqual([{ data: 'x'.repeat(300_000) }]);
    expect(step.bytes.length).toBe(text.length + 4);

    const chunk = Buffer.alloc(64 * 1024, 'x');
    expect(splitter.push(Buffer.from('data: {"id":"a"}\n\ndata: '))!.events).toEqual([{ data: '{"id":"a"}' }]);
    let accepted = 0;
    let refusedAt = -1;
    // A 40 MB event with no blank line.
    for (let i = 0; i < 640 && refusedAt < 0; i++) {
      if (splitter.push(chunk) === null) refusedAt = i;
      else accepted += chunk.length;
    }
    expect(refusedAt).toBeGreaterThan(0);
    expect(accepted).toBeLessThanOrEqual(limit);
    expect(accepted + chunk.length).toBeGreaterThan(limit - 'data: '.length);
    expect(splitter.rest()).toBe('');
  });
});
