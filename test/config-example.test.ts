import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { PriceBook } from '../src/usage/pricing.ts';

// The example the README points operators at: it must load, and configure what its comments say.
const example = fileURLToPath(new URL('../config/config.example.yaml', import.meta.url));
const load = (env: Record<string, string> = {}) => loadConfig({ GOMODEL_CONFIG: example, ...env });
/** USD per million tokens as femto-dollars per token, the unit prices are held in. */
const perMTok = (usd: number) => BigInt(Math.round(usd * 1e6)) * 1000n;

describe('config/config.example.yaml', () => {
  it('enables only the providers whose key or base URL is set', () => {
    expect(load().providers).toEqual([]);
    const c = load({
      OPENAI_API_KEY: 'sk-o',
      OPENAI_EAST_KEY: 'sk-e',
      OLLAMA_URL: 'http://127.0.0.1:11434/v1',
    });
    expect(c.providers).toEqual([
      { name: 'openai', type: 'openai', apiKey: 'sk-o', baseUrl: 'https://api.openai.com/v1', models: [] },
      { name: 'openai-east', type: 'openai', apiKey: 'sk-e', baseUrl: 'https://api.openai.com/v1', models: ['gpt-4o', 'ft:gpt-4o-mini:acme:support'] },
      { name: 'local-llama', type: 'ollama', apiKey: '', baseUrl: 'http://127.0.0.1:11434/v1', models: ['llama3.2'] },
    ]);
    expect(load({ ANTHROPIC_API_KEY: 'sk-a' }).providers.map((p) => [p.name, p.apiKey, p.baseUrl])).toEqual([
      ['anthropic', 'sk-a', 'https://api.anthropic.com/v1'],
    ]);
  });

  it('gives a provider several keys from api_keys, skipping unset ones; the environment’s keys replace them', () => {
    expect(load({ OPENAI_TEAM_KEY_1: 'sk-t1', OPENAI_TEAM_KEY_2: 'sk-t2' }).providers).toEqual([
      { name: 'openai-team', type: 'openai', apiKey: 'sk-t1', apiKeys: ['sk-t1', 'sk-t2'], baseUrl: 'https://api.openai.com/v1', models: [] },
    ]);
    expect(load({ OPENAI_TEAM_KEY_2: 'sk-t2' }).providers).toEqual([{ name: 'openai-team', type: 'openai', apiKey: 'sk-t2', baseUrl: 'https://api.openai.com/v1', models: [] }]);
    const fromEnv = load({ OPENAI_TEAM_KEY_1: 'sk-t1', OPENAI_TEAM_API_KEY: 'sk-e1', OPENAI_TEAM_API_KEY_2: 'sk-e2' }).providers[0]!;
    expect([fromEnv.apiKey, fromEnv.apiKeys]).toEqual(['sk-e1', ['sk-e1', 'sk-e2']]);
  });

  it('reads the tagging headers, with ${VAR:-default} falling back to its default', () => {
    expect(load().tagging).toEqual([
      { header: 'x-team-labels', prefix: '', delimiter: ',' },
      { header: 'x-feature', prefix: 'feature:', delimiter: ';' },
    ]);
    expect(load({ TEAM_LABELS_HEADER: 'X-Cost-Center' }).tagging[0]!.header).toBe('x-cost-center');
  });

  it('defines the budgets, by period name and by period_seconds', () => {
    const { budgets } = load();
    expect(budgets.enabled).toBe(true);
    expect(budgets.definitions).toEqual([
      { userPath: '/team/alpha', periodSeconds: 86_400, amount: 10 },
      { userPath: '/team/alpha', periodSeconds: 2_592_000, amount: 200 },
      { userPath: '/', periodSeconds: 21_600, amount: 50 },
    ]);
    expect(load({ BUDGETS_ENABLED: 'false' }).budgets.enabled).toBe(false);
  });

  it('defines the rate limits, windowed and concurrent', () => {
    const { rateLimits } = load();
    expect(rateLimits.enabled).toBe(true);
    expect(rateLimits.definitions).toEqual([
      { userPath: '/team/alpha', periodSeconds: 60, maxRequests: 600, maxTokens: 200_000 },
      { userPath: '/team/alpha', periodSeconds: 0, maxRequests: 20, maxTokens: null },
    ]);
    expect(load({ RATE_LIMITS_ENABLED: 'false' }).rateLimits.enabled).toBe(false);
  });

  it('defines virtual models: an alias, weighted targets for a subtree, an access policy', () => {
    expect(load().virtualModels).toEqual([
      { source: 'fast', targets: [{ model: 'openai/gpt-4o-mini', weight: 1 }], strategy: 'round_robin', userPaths: [], description: '', enabled: true },
      {
        source: 'smart',
        targets: [{ model: 'openai/gpt-4o', weight: 3 }, { model: 'anthropic/claude-sonnet-4-5', weight: 1 }],
        strategy: 'round_robin',
        userPaths: ['/team'],
        description: "the team's default model",
        enabled: true,
      },
      { source: 'openai/o3', targets: [], strategy: 'round_robin', userPaths: ['/research'], description: '', enabled: true },
    ]);
    // The environment's definition replaces the file's of the same source.
    const env = load({ VIRTUAL_MODELS: JSON.stringify([{ source: 'fast', target_model: 'anthropic/claude-haiku-4-5', enabled: false }]) });
    expect(env.virtualModels.find((v) => v.source === 'fast')).toMatchObject({ targets: [{ model: 'anthropic/claude-haiku-4-5', weight: 1 }], enabled: false });
  });

  it('sets prices the price book accepts and applies by provider name, type and model', () => {
    const prices = new PriceBook(load().pricing);

    const gpt4o = prices.lookup('openai', 'openai', 'gpt-4o');
    expect([gpt4o?.input, gpt4o?.output, gpt4o?.cachedInput, gpt4o?.source]).toEqual([perMTok(2.5), perMTok(10), perMTok(1.25), 'operator override']);

    const fineTuned = prices.lookup('openai', 'openai-east', 'ft:gpt-4o-mini:acme:support');
    expect([fineTuned?.input, fineTuned?.output, fineTuned?.cachedInput]).toEqual([perMTok(0.3), perMTok(1.2), perMTok(0.15)]);
    // The fine-tune's price belongs to the provider that lists it.
    expect(prices.lookup('openai', 'openai', 'ft:gpt-4o-mini:acme:support')).toBeNull();

    const sonnet = prices.lookup('anthropic', 'anthropic', 'claude-sonnet-4-5');
    expect(sonnet?.cacheWrite).toBe(perMTok(3.75));
    expect(sonnet?.tiers?.map((t) => [t.upToTokens, t.input, t.output])).toEqual([
      [200_000, perMTok(3), perMTok(15)],
      [1_000_000, perMTok(6), perMTok(22.5)],
    ]);

    const llama = prices.lookup('ollama', 'local-llama', 'llama3.2');
    expect([llama?.input, llama?.output, llama?.perRequest]).toEqual([0n, 0n, 100_000_000_000n]);
  });
  it('reads the failover rules and the circuit breaker settings, the environment winning', () => {
    const c = load();
    expect(c.failover.enabled).toBe(true);
    expect(Object.fromEntries(c.failover.rules)).toEqual({
      'gpt-4o': ['openai-east/gpt-4o', 'anthropic/claude-sonnet-4-5'],
      'anthropic/claude-sonnet-4-5': ['gpt-4o'],
    });
    expect(c.breaker).toEqual({ failureThreshold: 5, successThreshold: 2, openMs: 30_000 });
    const env = load({ FAILOVER_ENABLED: 'false', CIRCUIT_BREAKER_TIMEOUT: '5s', FAILOVER_RULES_JSON: '[{"primary_model":"gpt-4o","fallback_models":["gpt-4o-mini"]}]' });
    expect([env.failover.enabled, env.breaker.openMs, env.failover.rules.get('gpt-4o')]).toEqual([false, 5000, ['gpt-4o-mini']]);
  });
  it('reads the response cache: off until enabled, with its rules', () => {
    expect(load().cache).toMatchObject({ enabled: false, ttlMs: 3_600_000, maxBytes: 256 * 1024 * 1024, scope: 'caller' });
    expect(load({ CACHE_ENABLED: 'true' }).cache).toMatchObject({ enabled: true, rules: [{ userPath: '/support/faq' }, { model: 'text-embedding-3-small', ttlMs: 86_400_000 }] });
  });
});
