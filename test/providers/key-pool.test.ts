import { describe, expect, it } from 'vitest';
import { credentialHeader, KeyPool, redactedKey } from '../../src/providers/key-pool.ts';
import type { ProviderConfig } from '../../src/providers/types.ts';

const keys = ['sk-key-one-0123456789', 'sk-key-two-0123456789', 'sk-key-three-0123456789'];
const provider: ProviderConfig = { name: 'openai', type: 'openai', baseUrl: 'https://api.openai.com/v1', apiKey: keys[0]!, apiKeys: keys, models: [] };
const pool = () => new KeyPool(provider, keys, { rateLimitedMs: 60_000, refusedMs: 600_000 }, undefined);
const T = 1_000_000;

describe('KeyPool', () => {
  it('builds each header value once, in the header of the provider type', () => {
    expect(pool().values).toEqual(keys.map((k) => `Bearer ${k}`));
    expect(credentialHeader('anthropic')).toEqual(['x-api-key', '']);
    expect(credentialHeader('gemini')).toEqual(['x-goog-api-key', '']);
    expect(credentialHeader('groq')).toEqual(['authorization', 'Bearer ']);
  });

  it('rests a 429 for its Retry-After, in seconds or as a date, at least a second, else the default', () => {
    const p = pool();
    p.refused(0, 429, '5', T);
    expect(p.pick(T + 4_999)).toBe(1);
    expect(p.pick(T + 4_999)).toBe(2);
    expect(p.pick(T + 5_000)).toBe(0);
    p.refused(1, 429, new Date(T + 30_000).toUTCString(), T);
    expect([p.pick(T + 29_000), p.pick(T + 29_000)]).toEqual([2, 0]);
    const q = pool();
    q.refused(0, 429, '0', T);
    expect([q.available(T + 999), q.available(T + 999), q.available(T + 1_000)]).toEqual([1, 2, 0]);
    q.refused(1, 429, undefined, T);
    expect([q.available(T + 59_999), q.available(T + 59_999), q.available(T + 60_000)]).toEqual([2, 0, 1]);
  });

  it('rests a 401 or 403 for the longer refusal rest; with every key resting, picks the one rested longest ago', () => {
    const p = pool();
    p.refused(1, 401, undefined, T);
    p.refused(2, 403, undefined, T + 1);
    p.refused(0, 429, '3600', T + 2);
    expect(p.available(T + 10)).toBe(-1);
    expect(p.pick(T + 10)).toBe(1);
    p.answered(1);
    expect([p.pick(T + 10), p.pick(T + 10)]).toEqual([1, 1]);
    expect(p.available(T + 600_001)).toBe(2);
  });

  it('shows a key by its first three and last four characters, a short one by nothing', () => {
    expect(redactedKey('sk-proj-abcdefghijklmnop1234')).toBe('sk-…1234');
    expect(redactedKey('short-key')).toBe('…');
  });
});
