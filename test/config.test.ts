import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';

const yamlFile = (text: string) => {
  const path = join(mkdtempSync(join(tmpdir(), 'gomodel-config-')), 'config.yaml');
  writeFileSync(path, text);
  return path;
};

describe('providers from the environment', () => {
  it('discovers every type by its key, with default base URLs, in a stable order', () => {
    const c = loadConfig({ GEMINI_API_KEY: 'g', OPENAI_API_KEY: 'o', ANTHROPIC_API_KEY: 'a', OPENCODE_GO_API_KEY: 'oc', ZAI_API_KEY: 'z' });
    expect(c.providers.map((p) => [p.name, p.type, p.baseUrl])).toEqual([
      ['openai', 'openai', 'https://api.openai.com/v1'],
      ['anthropic', 'anthropic', 'https://api.anthropic.com/v1'],
      ['gemini', 'gemini', 'https://generativelanguage.googleapis.com/v1beta'],
      ['zai', 'zai', 'https://api.z.ai/api/paas/v4'],
      ['opencode_go', 'opencode_go', 'https://opencode.ai/zen/go/v1'],
    ]);
  });

  it('names suffixed instances type-suffix and reads their base URL and model list', () => {
    const c = loadConfig({
      OPENAI_API_KEY: 'o',
      OPENAI_EAST_API_KEY: 'e',
      OPENAI_EAST_BASE_URL: 'https://east.example.com/v1/',
      OPENAI_EAST_MODELS: 'gpt-4o, gpt-4o-mini',
      OPENAI_API_KEY_2: 'rotation keys are not instances',
    });
    expect(c.providers.map((p) => p.name)).toEqual(['openai', 'openai-east']);
    expect(c.providers[1]).toEqual({ name: 'openai-east', type: 'openai', apiKey: 'e', baseUrl: 'https://east.example.com/v1', models: ['gpt-4o', 'gpt-4o-mini'] });
  });

  it('enables a keyless provider by its base URL (Ollama, a local mock)', () => {
    const c = loadConfig({ OLLAMA_BASE_URL: 'http://127.0.0.1:11434/v1', OPENAI_BASE_URL: 'http://127.0.0.1:9999/v1' });
    expect(c.providers.map((p) => [p.name, p.apiKey])).toEqual([['openai', ''], ['ollama', '']]);
  });

  it('requires ORACLE_BASE_URL with ORACLE_API_KEY', () => {
    expect(() => loadConfig({ ORACLE_API_KEY: 'k' })).toThrow(/ORACLE_BASE_URL is required/);
  });

  it('rejects a base URL that is not http(s)', () => {
    expect(() => loadConfig({ GROQ_API_KEY: 'k', GROQ_BASE_URL: 'ftp://x' })).toThrow(/must start with http/);
  });
});

describe('config.yaml', () => {
  it('adds providers, expands ${VAR} and ${VAR:-default}, and lets the environment win', () => {
    const path = yamlFile(`
providers:
  openai:
    api_key: \${YAML_KEY}
    base_url: https://yaml.example.com/v1
  local-llama:
    type: ollama
    base_url: \${LLAMA_URL:-http://127.0.0.1:11434/v1}
    models: [llama3.2, { id: qwen3, pricing: { input_per_mtok: 0.1, output_per_mtok: 0.2 } }]
tagging:
  headers:
    - header: X-Team
      prefix: "team:"
`);
    const c = loadConfig({ GOMODEL_CONFIG: path, YAML_KEY: 'from-yaml', OPENAI_BASE_URL: 'https://env.example.com/v1' });
    expect(c.providers.find((p) => p.name === 'openai')).toMatchObject({ apiKey: 'from-yaml', baseUrl: 'https://env.example.com/v1' });
    expect(c.providers.find((p) => p.name === 'local-llama')).toMatchObject({ type: 'ollama', baseUrl: 'http://127.0.0.1:11434/v1', models: ['llama3.2', 'qwen3'] });
    expect(c.pricing).toEqual([{ provider: 'local-llama', model: 'qwen3', input_per_mtok: 0.1, output_per_mtok: 0.2 }]);
    expect(c.tagging).toEqual([{ header: 'x-team', prefix: 'team:', delimiter: ',' }]);
  });

  it('rejects unknown top-level keys and unknown provider types', () => {
    expect(() => loadConfig({ GOMODEL_CONFIG: yamlFile('provider: {}\n') })).toThrow(/unknown top-level key "provider"/);
    expect(() => loadConfig({ GOMODEL_CONFIG: yamlFile('providers:\n  x:\n    type: nope\n    api_key: k\n') })).toThrow(/unknown type "nope"/);
  });
});

describe('tagging and budgets', () => {
  it('reads TAGGING_HEADER_<n> rules in order and refuses credential headers', () => {
    const c = loadConfig({ TAGGING_HEADER_2: 'X-B', TAGGING_HEADER_1: 'X-A', TAGGING_HEADER_1_DELIMITER: ';' });
    expect(c.tagging.map((t) => [t.header, t.delimiter])).toEqual([['x-a', ';'], ['x-b', ',']]);
    expect(() => loadConfig({ TAGGING_HEADER_1: 'Authorization' })).toThrow(/credentials/);
  });

  it('reads SET_BUDGET_<PATH> with __ separating path segments', () => {
    const c = loadConfig({ SET_BUDGET_TEAM__ALPHA: 'daily=10,weekly=50', SET_BUDGET_: 'monthly=1000' });
    expect(c.budgets.definitions).toEqual([
      { userPath: '/team/alpha', periodSeconds: 86_400, amount: 10 },
      { userPath: '/team/alpha', periodSeconds: 604_800, amount: 50 },
      { userPath: '/', periodSeconds: 2_592_000, amount: 1000 },
    ]);
    expect(() => loadConfig({ SET_BUDGET_X: 'fortnightly=5' })).toThrow(/period must be/);
    expect(() => loadConfig({ SET_BUDGET_X: 'daily=-5' })).toThrow(/amount must be a positive/);
    // The budgets table stores period_seconds as an integer.
    expect(loadConfig({ SET_BUDGET_X: '2147483647=5' }).budgets.definitions[0]?.periodSeconds).toBe(2_147_483_647);
    expect(() => loadConfig({ SET_BUDGET_X: '3000000000=5' })).toThrow(/period_seconds from 1 to 2147483647/);
  });
});

describe('scalar settings', () => {
  it('parses durations and sizes and rejects nonsense with the variable name', () => {
    const c = loadConfig({ HTTP_TIMEOUT: '90s', USAGE_FLUSH_INTERVAL: '250ms', BODY_SIZE_LIMIT: '2M', RETRY_MAX_RETRIES: '0' });
    expect([c.http.timeoutMs, c.usage.flushIntervalMs, c.bodySizeLimit, c.retry.maxRetries]).toEqual([90_000, 250, 2 * 1024 * 1024, 0]);
    expect(() => loadConfig({ HTTP_TIMEOUT: 'soon' })).toThrow(/HTTP_TIMEOUT/);
    expect(() => loadConfig({ PORT: '70000' })).toThrow(/PORT/);
    expect(() => loadConfig({ BUDGET_UNKNOWN_PRICE: 'maybe' })).toThrow(/BUDGET_UNKNOWN_PRICE/);
  });

  it('holds at most 10 MiB of one provider reply unless UPSTREAM_REPLY_SIZE_LIMIT says otherwise', () => {
    expect(loadConfig({}).http.replySizeLimit).toBe(10 * 1024 * 1024);
    expect(loadConfig({ UPSTREAM_REPLY_SIZE_LIMIT: '64M' }).http.replySizeLimit).toBe(64 * 1024 * 1024);
    expect(() => loadConfig({ UPSTREAM_REPLY_SIZE_LIMIT: 'lots' })).toThrow(/UPSTREAM_REPLY_SIZE_LIMIT/);
  });

  it('takes METRICS_AUTH=true only with a master key to ask for', () => {
    expect(loadConfig({ METRICS_AUTH: 'true', GOMODEL_MASTER_KEY: 'k' }).metrics.auth).toBe(true);
    expect(loadConfig({}).metrics.auth).toBe(false);
    expect(() => loadConfig({ METRICS_AUTH: 'true' })).toThrow(/METRICS_AUTH=true .*GOMODEL_MASTER_KEY/);
  });

  it('reads the shutdown timeout and the journal settings, the spill directory of earlier versions included', () => {
    const defaults = loadConfig({ GOMODEL_DATA_DIR: '/srv/gm' });
    expect([defaults.shutdownTimeoutMs, defaults.usage.journalFsyncMs, defaults.usage.journalDir]).toEqual([30_000, 1000, '/srv/gm/usage-spill']);
    const c = loadConfig({ SHUTDOWN_TIMEOUT: '10s', USAGE_JOURNAL_FSYNC_INTERVAL: '0', USAGE_SPILL_DIR: '/var/spill' });
    expect([c.shutdownTimeoutMs, c.usage.journalFsyncMs, c.usage.journalDir]).toEqual([10_000, 0, '/var/spill']);
    expect(() => loadConfig({ SHUTDOWN_TIMEOUT: 'later' })).toThrow(/SHUTDOWN_TIMEOUT/);
  });
  it('keeps usage rows forever unless USAGE_RETENTION (or USAGE_RETENTION_DAYS, or retention.usage) says otherwise', () => {
    const DAY = 86_400_000;
    expect(loadConfig({}).usage.retentionMs).toBeNull();
    expect([['400d'], ['12w'], ['36h'], ['0']].map(([v]) => loadConfig({ USAGE_RETENTION: v }).usage.retentionMs)).toEqual([400 * DAY, 84 * DAY, 36 * 3_600_000, null]);
    expect([loadConfig({ USAGE_RETENTION_DAYS: '90' }).usage.retentionMs, loadConfig({ USAGE_RETENTION_DAYS: '0' }).usage.retentionMs]).toEqual([90 * DAY, null]);
    expect(loadConfig({ GOMODEL_CONFIG: yamlFile('retention:\n  usage: 30d\n') }).usage.retentionMs).toBe(30 * DAY);
    expect(loadConfig({ GOMODEL_CONFIG: yamlFile('retention:\n  usage: 30d\n'), USAGE_RETENTION: '0' }).usage.retentionMs).toBeNull();
    expect(loadConfig({ USAGE_RETENTION: 'forever' }).usage.retentionMs).toBeNull();
    expect(() => loadConfig({ USAGE_RETENTION: 'always' })).toThrow(/USAGE_RETENTION must be a duration like 400d, 12w or 36h, or 0 \(forever\) to keep everything, got "always"/);
    expect(() => loadConfig({ USAGE_RETENTION: '400' })).toThrow(/USAGE_RETENTION must be a duration/);
    expect(() => loadConfig({ USAGE_RETENTION: '0d' })).toThrow(/USAGE_RETENTION must be a duration/);
    expect(() => loadConfig({ USAGE_RETENTION_DAYS: 'ninety' })).toThrow(/USAGE_RETENTION_DAYS must be an integer/);
    expect(() => loadConfig({ USAGE_RETENTION: '90d', USAGE_RETENTION_DAYS: '90' })).toThrow(/not both/);
    expect(() => loadConfig({ GOMODEL_CONFIG: yamlFile('retention:\n  usage: soon\n') })).toThrow(/retention.usage must be a duration/);
  });

  it('reads failover rules as an object or a list, defaults the breaker to 5 failures, 2 successes and 30 s, and refuses malformed rules by name', () => {
    const c = loadConfig({ FAILOVER_RULES_JSON: '{"gpt-4o":["openai-east/gpt-4o","gpt-4o"," claude "]}' });
    expect([...c.failover.rules]).toEqual([['gpt-4o', ['openai-east/gpt-4o', 'claude']]]);
    expect(c.breaker).toEqual({ failureThreshold: 5, successThreshold: 2, openMs: 30_000 });
    expect(loadConfig({ FAILOVER_RULES_JSON: '[{"primary_model":"a","fallback_models":["b"]}]' }).failover.rules.get('a')).toEqual(['b']);
    expect(() => loadConfig({ FAILOVER_RULES_JSON: '{"a":' })).toThrow(/FAILOVER_RULES_JSON: not valid JSON/);
    expect(() => loadConfig({ FAILOVER_RULES_JSON: '{"a":"b"}' })).toThrow(/FAILOVER_RULES_JSON: fallback models of "a"/);
    expect(() => loadConfig({ FAILOVER_RULES_JSON: '[{"fallback_models":["b"]}]' })).toThrow(/FAILOVER_RULES_JSON: a rule needs a primary_model/);
    expect(() => loadConfig({ CIRCUIT_BREAKER_FAILURE_THRESHOLD: '0' })).toThrow(/CIRCUIT_BREAKER_FAILURE_THRESHOLD/);
  });
});

describe('virtual models', () => {
  it('refuses a VIRTUAL_MODELS that cannot be used, saying where', () => {
    expect(() => loadConfig({ VIRTUAL_MODELS: '{not json' })).toThrow(/VIRTUAL_MODELS: not valid JSON/);
    expect(() => loadConfig({ VIRTUAL_MODELS: '{"source":"x"}' })).toThrow(/VIRTUAL_MODELS: expected a list/);
    expect(() => loadConfig({ VIRTUAL_MODELS: '[{"source":"x","targets":[{"model":"a","weight":-2}]}]' })).toThrow(/VIRTUAL_MODELS\[0\]: targets\[0\]\.weight must be a number above 0/);
    expect(() => loadConfig({ VIRTUAL_MODELS: '[{"source":"x","target_model":"a"},{"source":"x","target_model":"b"}]' })).toThrow(/VIRTUAL_MODELS\[1\]: source "x" is defined twice/);
    expect(() => loadConfig({ VIRTUAL_MODELS: '[{"source":"x","target_model":"a","strategy":"fastest"}]' })).toThrow(/strategy must be one of round_robin, weighted, cost/);
  });

  it('reads virtual_models from config.yaml, normalising user paths', () => {
    const path = yamlFile(`
virtual_models:
  - source: cheap
    strategy: cost
    targets: [{ model: gpt-4o-mini }, { model: claude-haiku-4-5, provider: anthropic, weight: 2 }]
    user_paths: [team/b, /team/a/, /team/b]
`);
    expect(loadConfig({ GOMODEL_CONFIG: path }).virtualModels).toEqual([
      {
        source: 'cheap',
        targets: [{ model: 'gpt-4o-mini', weight: 1 }, { model: 'claude-haiku-4-5', provider: 'anthropic', weight: 2 }],
        strategy: 'cost',
        userPaths: ['/team/a', '/team/b'],
        description: '',
        enabled: true,
      },
    ]);
  });
});

describe('response cache', () => {
  it('is off by default; reads cache: of config.yaml under the CACHE_* variables, and refuses malformed settings by name', () => {
    expect(loadConfig({}).cache).toEqual({ enabled: false, ttlMs: 3_600_000, maxBytes: 256 * 1024 * 1024, maxEntryBytes: 1024 * 1024, memoryBytes: 8 * 1024 * 1024, scope: 'caller', rules: [], sweepMs: 60_000 });
    const path = yamlFile(`
cache:
  enabled: true
  ttl: 10m
  max_bytes: 64M
  scope: user_path
  rules:
    - user_path: faq/
    - model: text-embedding-3-small
      ttl: 1h
`);
    const c = loadConfig({ GOMODEL_CONFIG: path, CACHE_TTL: '20m' }).cache;
    expect(c).toMatchObject({ enabled: true, ttlMs: 1_200_000, maxBytes: 64 * 1024 * 1024, scope: 'user_path', rules: [{ userPath: '/faq' }, { model: 'text-embedding-3-small', ttlMs: 3_600_000 }] });
    expect(loadConfig({ RESPONSE_CACHE_SIMPLE_ENABLED: 'true' }).cache.enabled).toBe(true);
    expect(() => loadConfig({ CACHE_SCOPE: 'everyone' })).toThrow(/CACHE_SCOPE/);
    expect(() => loadConfig({ CACHE_RULES: '[{"path":"/a"}]' })).toThrow(/CACHE_RULES\[0\]: unknown field "path"/);
    expect(() => loadConfig({ CACHE_RULES: '{' })).toThrow(/CACHE_RULES: not valid JSON/);
  });
});
