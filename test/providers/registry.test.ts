import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { ProviderRegistry } from '../../src/providers/registry.ts';
import type { ProviderConfig } from '../../src/providers/types.ts';
import { Upstream } from '../../src/providers/upstream.ts';
import { Redactor } from '../../src/redact.ts';

const provider = (name: string, type: ProviderConfig['type'], models: string[]): ProviderConfig => ({ name, type, baseUrl: 'http://127.0.0.1:9/v1', apiKey: '', models });
const registry = (configs: ProviderConfig[]) =>
  new ProviderRegistry(configs, { siteUrl: '', appName: '' }, new Upstream({ timeoutMs: 1000, headerTimeoutMs: 1000, retry: { maxRetries: 0, initialBackoffMs: 1, maxBackoffMs: 1, factor: 2, jitter: 0 }, drain: { ms: 0, bytes: 0 } }), createLogger('silent'), new Redactor([]));

describe('ProviderRegistry.resolve', () => {
  const r = registry([
    provider('openai', 'openai', ['gpt-4o', 'shared']),
    provider('openai-east', 'openai', ['shared', 'east-only']),
    provider('openrouter', 'openrouter', ['anthropic/claude-sonnet-4.5', 'google/gemini-2.5-pro']),
  ]);
  const pick = (selector: string, hint?: string) => {
    const route = r.resolve(selector, hint);
    return route && [route.entry.config.name, route.model];
  };

  it('sends a bare model to the first provider that lists it', () => {
    expect(pick('shared')).toEqual(['openai', 'shared']);
    expect(pick('east-only')).toEqual(['openai-east', 'east-only']);
  });

  it('reads provider/model when the prefix is a configured provider name', () => {
    expect(pick('openai-east/shared')).toEqual(['openai-east', 'shared']);
    expect(pick('openrouter/anthropic/claude-sonnet-4.5')).toEqual(['openrouter', 'anthropic/claude-sonnet-4.5']);
  });

  it('keeps a slash that is part of the model id when the prefix is no provider', () => {
    expect(pick('google/gemini-2.5-pro')).toEqual(['openrouter', 'google/gemini-2.5-pro']);
  });

  it('honours the body hint, with or without the prefix', () => {
    expect(pick('shared', 'openai-east')).toEqual(['openai-east', 'shared']);
    expect(pick('openai-east/shared', 'openai-east')).toEqual(['openai-east', 'shared']);
    expect(pick('shared', 'nope')).toBeNull();
  });

  it('finds nothing for an unknown model when every provider has a list', () => {
    expect(pick('gpt-9')).toBeNull();
  });

  it('sends unknown models to a provider without a model list', () => {
    const open = registry([provider('openai', 'openai', ['gpt-4o']), provider('ollama', 'ollama', [])]);
    expect(open.resolve('llama3.2')?.entry.config.name).toBe('ollama');
  });

  it('lists models as provider/model selectors', () => {
    expect(r.list().map((m) => m.id)).toEqual([
      'openai/gpt-4o', 'openai/shared', 'openai-east/east-only', 'openai-east/shared',
      'openrouter/anthropic/claude-sonnet-4.5', 'openrouter/google/gemini-2.5-pro',
    ]);
  });
});
