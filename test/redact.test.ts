import { describe, expect, it } from 'vitest';
import { Redactor } from '../src/redact.ts';

const tail = (n: number) => 'aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1eF3hJ5kM7nP9rS1tU3wX5zA7cD9fG1iL3oR5uV7xY9'.repeat(3).slice(0, n);

describe('Redactor', () => {
  it('removes every configured secret wherever it appears, also as escaped inside a JSON string', () => {
    const odd = `pass"word\\${tail(12)}`;
    const r = new Redactor(['q9-no-known-shape-0123', odd, null, undefined, '']);
    expect(r.scrub('key q9-no-known-shape-0123, again:q9-no-known-shape-0123.')).toBe('key [redacted], again:[redacted].');
    expect(r.scrub(JSON.stringify({ msg: `saw ${odd}` }))).toBe('{"msg":"saw [redacted]"}');
  });

  it.each([
    ['OpenAI', `sk-${tail(48)}`],
    ['OpenAI project', `sk-proj-${tail(64)}_${tail(20)}`],
    ['Anthropic', `sk-ant-api03-${tail(93)}AA`],
    ['OpenRouter', `sk-or-v1-${'0123456789abcdef'.repeat(4)}`],
    ['DeepSeek', `sk-${'0123456789abcdef'.repeat(2)}`],
    ['Google', `AIzaSy${tail(33)}`],
    ['Groq', `gsk_${tail(52)}`],
    ['xAI', `xai-${tail(80)}`],
    ['Fireworks', `fw_${tail(24)}`],
    ['a JWT (MiniMax)', `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.${tail(40)}`],
  ])('removes a key shaped like %s that it was not given', (_, key) => {
    expect(new Redactor([]).scrub(`invalid key "${key}" given`)).toBe('invalid key "[redacted]" given');
  });

  it('removes bearer tokens and keys in query strings, keeping the parameter name', () => {
    const r = new Redactor([]);
    expect(r.scrub(`Authorization: Bearer ${tail(30)}`)).toBe('Authorization: [redacted]');
    expect(r.scrub(`GET /v1beta/models?key=${tail(12)}&alt=sse`)).toBe('GET /v1beta/models?key=[redacted]&alt=sse');
  });

  it('leaves ordinary text alone, and short placeholder keys are not secrets', () => {
    const r = new Redactor(['ollama']);
    const text = 'the ollama provider, task-management, sk-learn, keyboard, AIza, risk-free, mask-abcdefghijklmnopqrstuvwxyz';
    expect(r.scrub(text)).toBe(text);
  });
});
