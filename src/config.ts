import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { envBool, envBytes, envDuration, envInt, envNumber, envString, parseRetention, type Env } from './env.ts';
import { providerTypes, type ProviderConfig, type ProviderType } from './providers/types.ts';
import { normalizeUserPath } from './user-path.ts';
import { DefinitionError, parseVirtualModel, type VirtualModelDefinition } from './virtual-model-definition.ts';

/** A header whose comma-separated (or `delimiter`-separated) values become the request's labels. */
export interface TaggingRule {
  header: string;
  prefix: string;
  delimiter: string;
}

/** A price in the original gateway's field names (USD per million tokens; `per_request` in USD). */
export interface PriceFields {
  input_per_mtok: number | string;
  output_per_mtok: number | string;
  cached_input_per_mtok?: number | string;
  cache_write_per_mtok?: number | string;
  reasoning_output_per_mtok?: number | string;
  per_request?: number | string;
  tiers?: readonly TierFields[];
}

export interface TierFields {
  up_to_tokens: number;
  input_per_mtok: number | string;
  output_per_mtok: number | string;
  cached_input_per_mtok?: number | string;
  cache_write_per_mtok?: number | string;
  reasoning_output_per_mtok?: number | string;
}

/** An operator price (USD per million tokens), overriding the bundled data for a model. */
export type PriceOverride = PriceFields & { provider?: string; model: string };

export interface BudgetDefinition {
  userPath: string;
  periodSeconds: number;
  amount: number;
}

/** A rate limit of a user-path subtree from the configuration. `periodSeconds` 0 caps requests in flight. */
export interface RateLimitDefinition {
  userPath: string;
  periodSeconds: number;
  maxRequests: number | null;
  maxTokens: number | null;
}

export interface RetryPolicy {
  maxRetries: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  factor: number;
  jitter: number;
}

export interface BreakerSettings {
  /** Consecutive failures that open a breaker (CIRCUIT_BREAKER_FAILURE_THRESHOLD). */
  failureThreshold: number;
  /** Successful probes in a row that close it again (CIRCUIT_BREAKER_SUCCESS_THRESHOLD). */
  successThreshold: number;
  /** How long an open breaker refuses before it lets one probe through (CIRCUIT_BREAKER_TIMEOUT). */
  openMs: number;
}

/** How long a provider key rests after the provider refused it. */
export interface KeyRest {
  /** After a 429 without a usable Retry-After (PROVIDER_KEY_RATE_LIMIT_REST). */
  rateLimitedMs: number;
  /** After a 401 or 403 (PROVIDER_KEY_AUTH_REST): a revoked or unpaid key stays wrong for a while. */
  refusedMs: number;
}

/** Requests an operator caches without their asking: all given fields must match (a rule with neither matches every request). */
export interface CacheRule {
  /** A user-path subtree. */
  userPath?: string;
  /** The model as the client names it, or as routed (`model` or `provider/model`). */
  model?: string;
  ttlMs?: number;
}

/** Who may be answered with whose cached replies: the same key and user path, the same user path, or anyone. */
export type CacheScope = 'caller' | 'user_path' | 'shared';

/** The exact response cache (docs/cache.md). */
export interface CacheSettings {
  enabled: boolean;
  ttlMs: number;
  /** Bound of the stored replies' bytes, kept by the sweep. */
  maxBytes: number;
  /** A larger reply (or stream) is not stored. */
  maxEntryBytes: number;
  /** Each process keeps the entries it served or stored last, up to this many bytes, in memory (0: none). */
  memoryBytes: number;
  scope: CacheScope;
  rules: CacheRule[];
  sweepMs: number;
}

/** Everything the gateway reads from its environment (and optional config.yaml), parsed once. */
export interface Config {
  port: number;
  /** Gateway processes sharing the port (GOMODEL_WORKERS; `auto` = one per CPU). */
  workers: number;
  /** Bearer key for every route but /health*; null runs the gateway open (with a warning). */
  masterKey: string | null;
  bodySizeLimit: number;
  logLevel: string;
  /** Embedded PostgreSQL data and the usage journal live here. */
  dataDir: string;
  postgres: { url: string | null; maxConnections: number };
  usage: {
    flushIntervalMs: number;
    bufferSize: number;
    /** The usage journal (USAGE_SPILL_DIR: earlier versions kept spill files there, which are still read back). */
    journalDir: string;
    /** fdatasync of the journal at most this often; 0 = before each group of rows is acknowledged. */
    journalFsyncMs: number;
    enforceReturningUsage: boolean;
    /** Rows older than this leave, a whole month at a time (USAGE_RETENTION); null keeps them forever. */
    retentionMs: number | null;
  };
  /** The audit log (docs/audit.md): `retentionMs` null keeps entries forever. */
  audit: { enabled: boolean; bodies: boolean; bodyMaxBytes: number; redactFields: string[]; retentionMs: number | null };
  /** On SIGTERM/SIGINT, how long in-flight requests may run before they are cut. */
  shutdownTimeoutMs: number;
  adminEndpointsEnabled: boolean;
  /** Serve the dashboard at /admin/dashboard (needs the admin endpoints). */
  adminUiEnabled: boolean;
  providers: ProviderConfig[];
  /** How often provider model lists are fetched again. */
  modelsRefreshMs: number;
  http: {
    timeoutMs: number;
    headerTimeoutMs: number;
    /** Largest provider reply held in memory: a non-streaming reply, or one event of a stream (UPSTREAM_REPLY_SIZE_LIMIT). */
    replySizeLimit: number;
  };
  retry: RetryPolicy;
  /** Models to try, in order, when a model cannot answer (FAILOVER_ENABLED, `failover.rules`, FAILOVER_RULES_JSON). */
  failover: { enabled: boolean; rules: ReadonlyMap<string, readonly string[]> };
  breaker: BreakerSettings;
  /** How long a provider key rests after a 429 or a 401/403, for providers with several keys. */
  keyRest: KeyRest;
  /** AES-256-GCM key for the provider credentials stored through the admin API (GOMODEL_CREDENTIALS_KEY); null turns that API off. */
  credentialsKey: Buffer | null;
  userPathHeader: string;
  tagging: TaggingRule[];
  pricing: PriceOverride[];
  anthropicDefaultMaxTokens: number;
  /** `auth`: the metrics endpoint asks for the master key (METRICS_AUTH). */
  metrics: { enabled: boolean; path: string; auth: boolean };
  budgets: {
    enabled: boolean;
    definitions: BudgetDefinition[];
    unknownPrice: 'allow' | 'deny';
    /** Output tokens assumed for a request without `max_tokens` when reserving its worst-case cost. */
    maxOutputTokens: number;
    /** How long a budget lease lives without renewal (its process died) before it is given back. */
    leaseTtlMs: number;
    /** How far a budgeted request's provider reply is read once its client has gone, to learn its usage. */
    drain: { ms: number; bytes: number };
  };
  rateLimits: {
    enabled: boolean;
    definitions: RateLimitDefinition[];
    /** How long a process's in-flight slots live without renewal (its process died) before they are freed. */
    leaseTtlMs: number;
  };
  openrouter: { siteUrl: string; appName: string };
  /** Virtual models of config.yaml and VIRTUAL_MODELS (the environment's win): read-only through the admin API. */
  virtualModels: VirtualModelDefinition[];
  cache: CacheSettings;
}

/** Base URL of each provider type (with its API version prefix) when `<TYPE>_BASE_URL` is unset. */
export const defaultBaseUrls: Record<ProviderType, string | null> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com/v1',
  gemini: 'https://generativelanguage.googleapis.com/v1beta',
  groq: 'https://api.groq.com/openai/v1',
  fireworks: 'https://api.fireworks.ai/inference/v1',
  openrouter: 'https://openrouter.ai/api/v1',
  deepseek: 'https://api.deepseek.com/v1',
  zai: 'https://api.z.ai/api/paas/v4',
  xai: 'https://api.x.ai/v1',
  minimax: 'https://api.minimax.io/v1',
  xiaomi: 'https://api.xiaomimimo.com/v1',
  opencode_go: 'https://opencode.ai/zen/go/v1',
  oracle: null,
  ollama: 'http://localhost:11434/v1',
  bailian: 'https://dashscope-intl.aliyuncs.com/compatible-mode/v1',
};

const periodNames: Record<string, number> = {
  hour: 3600, hours: 3600, hourly: 3600,
  day: 86_400, days: 86_400, daily: 86_400,
  week: 604_800, weeks: 604_800, weekly: 604_800,
  month: 2_592_000, months: 2_592_000, monthly: 2_592_000,
};

/** The longest custom budget period: budgets store period_seconds as a PostgreSQL integer (about 68 years). */
const MAX_PERIOD_SECONDS = 2_147_483_647;

/** `daily`, `weekly`… → period seconds (monthly is the calendar-month sentinel 2592000). */
export function periodSeconds(name: string): number | undefined {
  return periodNames[name.trim().toLowerCase()];
}

const credentialHeaders = new Set(['authorization', 'proxy-authorization', 'cookie', 'x-api-key', 'api-key', 'x-goog-api-key']);

const envPrefix = (t: ProviderType) => t.toUpperCase();
// Longest type first, so OPENCODE_GO_… is not read as an OPENCODE instance named GO.
const typesByPrefixLength = [...providerTypes].sort((a, b) => b.length - a.length);

type FoundProvider = Partial<ProviderConfig> & { type: ProviderType; numberedKeys?: [number, string][] };

/** Providers discovered from `<TYPE>[_<SUFFIX>]_{API_KEY,BASE_URL,MODELS}`, and further keys from `…_API_KEY_<n>`. */
function providersFromEnv(env: Env): Map<string, FoundProvider> {
  const found = new Map<string, FoundProvider>();
  for (const [key, raw] of Object.entries(env)) {
    const value = raw?.trim();
    if (!value) continue;
    const m = /^(.+?)_(API_KEY|BASE_URL|MODELS)(?:_(\d+))?$/.exec(key);
    if (!m || (m[3] !== undefined && m[2] !== 'API_KEY')) continue;
    const head = m[1]!;
    const type = typesByPrefixLength.find((t) => head === envPrefix(t) || head.startsWith(`${envPrefix(t)}_`));
    if (!type) continue;
    const suffix = head.slice(envPrefix(type).length + 1);
    if (suffix && !/^[A-Z0-9_]+$/.test(suffix)) continue;
    const name = suffix ? `${type}-${suffix.toLowerCase().replace(/_/g, '-')}` : type;
    const p = found.get(name) ?? { type, name };
    if (m[2] === 'API_KEY' && m[3] !== undefined) (p.numberedKeys ??= []).push([Number(m[3]), value]);
    else if (m[2] === 'API_KEY') p.apiKey = value;
    else if (m[2] === 'BASE_URL') p.baseUrl = value;
    else p.models = value.split(',').map((s) => s.trim()).filter(Boolean);
    found.set(name, p);
  }
  for (const p of found.values()) {
    if (!p.numberedKeys) continue;
    const keys = [...(p.apiKey ? [p.apiKey] : []), ...p.numberedKeys.sort((a, b) => a[0] - b[0]).map(([, k]) => k)];
    delete p.numberedKeys;
    p.apiKey = keys[0];
    p.apiKeys = keys;
  }
  return found;
}

/** `${VAR}` and `${VAR:-default}` in config.yaml values. */
function expand(text: string, env: Env): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_, name: string, dflt?: string) => env[name] ?? dflt ?? '');
}

interface YamlProvider {
  type?: string;
  api_key?: string;
  /** Further keys (or all of them, without `api_key`): requests take turns. */
  api_keys?: string[];
  base_url?: string;
  models?: (string | { id: string; pricing?: Omit<PriceOverride, 'model' | 'provider'> })[];
}

interface YamlConfig {
  providers?: Record<string, YamlProvider>;
  tagging?: { headers?: { header: string; prefix?: string; delimiter?: string; do_not_pass?: boolean }[] };
  pricing?: PriceOverride[];
  budgets?: { enabled?: boolean; user_paths?: { path: string; limits: { period?: string; period_seconds?: number; amount: number }[] }[] };
  rate_limits?: { enabled?: boolean; user_paths?: { path: string; limits: YamlRateLimit[] }[] };
  virtual_models?: unknown[];
  failover?: { enabled?: boolean; rules?: unknown };
  retention?: { usage?: string | number };
  resilience?: { circuit_breaker?: { failure_threshold?: number; success_threshold?: number; timeout?: string | number } };
  audit?: { enabled?: boolean; bodies?: boolean; body_max_bytes?: string | number; redact_fields?: string[] | string; retention?: string | number };
  cache?: { enabled?: boolean; ttl?: string | number; max_bytes?: string | number; max_entry_bytes?: string | number; scope?: string; rules?: unknown };
}

interface YamlRateLimit {
  period?: string;
  period_seconds?: number;
  max_requests?: number;
  max_tokens?: number;
}

const yamlKeys = new Set(['providers', 'tagging', 'pricing', 'budgets', 'rate_limits', 'virtual_models', 'failover', 'resilience', 'cache', 'retention', 'audit']);

function readYaml(env: Env): YamlConfig {
  const path = env.GOMODEL_CONFIG?.trim() || ['config/config.yaml', 'config.yaml'].find((p) => existsSync(p));
  if (!path) return {};
  const doc = (parseYaml(expand(readFileSync(path, 'utf8'), env)) ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(doc)) if (!yamlKeys.has(key)) throw new Error(`${path}: unknown top-level key "${key}" (known: ${[...yamlKeys].join(', ')})`);
  return doc as YamlConfig;
}

function mergeProviders(env: Env, yaml: YamlConfig, pricing: PriceOverride[]): ProviderConfig[] {
  const merged = new Map<string, Partial<ProviderConfig> & { type: ProviderType }>();
  for (const [name, p] of Object.entries(yaml.providers ?? {})) {
    const type = (p.type ?? name) as ProviderType;
    if (!providerTypes.includes(type)) throw new Error(`config.yaml: provider "${name}" has unknown type "${p.type ?? name}"`);
    const models: string[] = [];
    for (const m of p.models ?? []) {
      if (typeof m === 'string') models.push(m);
      else {
        models.push(m.id);
        if (m.pricing) pricing.push({ ...m.pricing, provider: name, model: m.id } as PriceOverride);
      }
    }
    // An empty entry is a variable left unset (`"${OPENAI_KEY_2}"`), and is skipped like an empty api_key.
    if (p.api_keys !== undefined && (!Array.isArray(p.api_keys) || p.api_keys.some((k) => typeof k !== 'string'))) {
      throw new Error(`config.yaml: provider "${name}": api_keys must be a list of strings`);
    }
    const keys = [...new Set([p.api_key, ...(p.api_keys ?? [])].map((k) => k?.trim()).filter((k): k is string => !!k))];
    merged.set(name, { name, type, apiKey: keys[0], apiKeys: keys.length > 1 ? keys : undefined, baseUrl: p.base_url, models });
  }
  for (const [name, p] of providersFromEnv(env)) {
    const base = merged.get(name);
    // Keys from the environment replace those of config.yaml together, so a lone OPENAI_API_KEY is the only key.
    const keys = p.apiKey !== undefined ? { apiKeys: p.apiKeys } : {};
    merged.set(name, { ...base, ...Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)), ...keys, type: base?.type ?? p.type });
  }
  const providers: ProviderConfig[] = [];
  for (const p of merged.values()) {
    const baseUrl = (p.baseUrl ?? defaultBaseUrls[p.type] ?? '').replace(/\/+$/, '');
    const apiKey = p.apiKey ?? '';
    // A provider is on when it has a key, or a base URL of its own (a self-hosted or keyless endpoint).
    if (!apiKey && !p.baseUrl) continue;
    if (!baseUrl) throw new Error(`provider ${p.name}: ${envPrefix(p.type)}_BASE_URL is required for type ${p.type}`);
    if (!/^https?:\/\//.test(baseUrl)) throw new Error(`provider ${p.name}: base URL must start with http:// or https://, got "${baseUrl}"`);
    providers.push({ name: p.name!, type: p.type, baseUrl, apiKey, ...(p.apiKeys && p.apiKeys.length > 1 ? { apiKeys: p.apiKeys } : {}), models: p.models ?? [] });
  }
  const rank = (t: ProviderType) => providerTypes.indexOf(t);
  return providers.sort((a, b) => rank(a.type) - rank(b.type) || (a.name === a.type ? -1 : b.name === b.type ? 1 : a.name.localeCompare(b.name)));
}

function taggingRules(env: Env, yaml: YamlConfig): TaggingRule[] {
  const rules: TaggingRule[] = (yaml.tagging?.headers ?? []).map((h) => ({ header: h.header, prefix: h.prefix ?? '', delimiter: h.delimiter ?? ',' }));
  const numbers = Object.keys(env)
    .map((k) => /^TAGGING_HEADER_(\d+)$/.exec(k)?.[1])
    .filter((n): n is string => n !== undefined)
    .sort((a, b) => Number(a) - Number(b));
  for (const n of numbers) {
    const header = env[`TAGGING_HEADER_${n}`]?.trim();
    if (!header) continue;
    rules.push({ header, prefix: env[`TAGGING_HEADER_${n}_PREFIX`] ?? '', delimiter: env[`TAGGING_HEADER_${n}_DELIMITER`] || ',' });
  }
  for (const r of rules) {
    if (!/^[A-Za-z0-9-]+$/.test(r.header)) throw new Error(`tagging header "${r.header}" is not a valid header name`);
    if (credentialHeaders.has(r.header.toLowerCase())) throw new Error(`tagging header "${r.header}" carries credentials and cannot be a label source`);
    r.header = r.header.toLowerCase();
  }
  return rules;
}

function budgetDefinitions(env: Env, yaml: YamlConfig): BudgetDefinition[] {
  const defs = new Map<string, BudgetDefinition>();
  const add = (path: string, seconds: number | undefined, amount: number, where: string) => {
    const userPath = normalizeUserPath(path) ?? '/';
    if (!seconds || !Number.isInteger(seconds) || seconds <= 0 || seconds > MAX_PERIOD_SECONDS) {
      throw new Error(`${where}: period must be hourly, daily, weekly, monthly or a period_seconds from 1 to ${MAX_PERIOD_SECONDS}`);
    }
    if (!Number.isFinite(amount) || amount <= 0) throw new Error(`${where}: amount must be a positive number of USD`);
    defs.set(`${userPath}\0${seconds}`, { userPath, periodSeconds: seconds, amount });
  };
  for (const up of yaml.budgets?.user_paths ?? []) {
    for (const l of up.limits ?? []) add(up.path, l.period_seconds ?? (l.period ? periodSeconds(l.period) : undefined), Number(l.amount), `config.yaml budget ${up.path}`);
  }
  for (const [key, value] of Object.entries(env)) {
    const m = /^SET_BUDGET_(.*)$/.exec(key);
    if (!m || !value?.trim()) continue;
    const path = `/${m[1]!.toLowerCase().split('__').join('/')}`;
    for (const part of value.split(',')) {
      const [period, amount] = part.split('=').map((s) => s.trim());
      const seconds = period && /^\d+$/.test(period) ? Number(period) : periodSeconds(period ?? '');
      add(path, seconds, Number(amount), key);
    }
  }
  return [...defs.values()];
}

/** Every secret the gateway holds: the master key, each provider's key, the database password. */
export function configuredSecrets(config: Pick<Config, 'masterKey' | 'providers' | 'postgres'>): string[] {
  const secrets = config.providers.flatMap((p) => p.apiKeys ?? [p.apiKey]);
  if (config.masterKey) secrets.push(config.masterKey);
  if (config.postgres.url && URL.canParse(config.postgres.url)) secrets.push(decodeURIComponent(new URL(config.postgres.url).password));
  return secrets;
}

const rateLimitPeriods: Record<string, number> = {
  concurrent: 0,
  second: 1, seconds: 1,
  minute: 60, minutes: 60, minutely: 60,
  hour: 3600, hours: 3600, hourly: 3600,
  day: 86_400, days: 86_400, daily: 86_400,
  week: 604_800, weeks: 604_800, weekly: 604_800,
};

/** `minute`, `hour`, `day`, `week`, `concurrent` (and their plurals) → rate limit period seconds; 0 caps requests in flight. */
export const rateLimitPeriod = (name: string): number | undefined => rateLimitPeriods[name.trim().toLowerCase()];

/** `rpm=100` style names: r/t (requests, tokens) per m/h/d (minute, hour, day). */
const rateShorthand: Record<string, [number, 'maxRequests' | 'maxTokens']> = {
  rpm: [60, 'maxRequests'], tpm: [60, 'maxTokens'],
  rph: [3600, 'maxRequests'], tph: [3600, 'maxTokens'],
  rpd: [86_400, 'maxRequests'], tpd: [86_400, 'maxTokens'],
  concurrent: [0, 'maxRequests'],
};

function rateLimitDefinitions(env: Env, yaml: YamlConfig): RateLimitDefinition[] {
  const defs = new Map<string, RateLimitDefinition>();
  const add = (path: string, seconds: number | undefined, field: 'maxRequests' | 'maxTokens', value: unknown, where: string) => {
    const userPath = normalizeUserPath(path) ?? '/';
    if (seconds === undefined || !Number.isInteger(seconds) || seconds < 0) throw new Error(`${where}: period must be minute, hour, day, concurrent or a period_seconds >= 0`);
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${where}: ${field === 'maxRequests' ? 'max_requests' : 'max_tokens'} must be a positive integer, got "${String(value)}"`);
    if (seconds === 0 && field === 'maxTokens') throw new Error(`${where}: a concurrent limit caps requests in flight, not tokens`);
    const key = `${userPath}\0${seconds}`;
    const def = defs.get(key) ?? { userPath, periodSeconds: seconds, maxRequests: null, maxTokens: null };
    def[field] = n;
    defs.set(key, def);
  };
  const addLimit = (path: string, l: YamlRateLimit, where: string) => {
    const seconds = l.period_seconds ?? (l.period !== undefined ? rateLimitPeriod(l.period) : undefined);
    if (l.max_requests === undefined && l.max_tokens === undefined) throw new Error(`${where}: give max_requests, max_tokens or both`);
    if (l.max_requests !== undefined) add(path, seconds, 'maxRequests', l.max_requests, where);
    if (l.max_tokens !== undefined) add(path, seconds, 'maxTokens', l.max_tokens, where);
  };
  for (const up of yaml.rate_limits?.user_paths ?? []) for (const l of up.limits ?? []) addLimit(up.path, l, `config.yaml rate limit ${up.path}`);
  for (const [key, value] of Object.entries(env)) {
    if (/^SET_PROVIDER_RATE_LIMIT_/.test(key) && value?.trim()) throw new Error(`${key}: provider rate limits are not supported; limit user paths (SET_RATE_LIMIT_<PATH>) or keys`);
    const m = /^SET_RATE_LIMIT_(.*)$/.exec(key);
    if (!m || !value?.trim()) continue;
    const path = `/${m[1]!.toLowerCase().split('__').join('/')}`;
    if (value.trim().startsWith('[')) {
      let limits: unknown;
      try {
        limits = JSON.parse(value);
      } catch {
        throw new Error(`${key}: not valid JSON`);
      }
      if (!Array.isArray(limits)) throw new Error(`${key}: expected a JSON array of {period, max_requests, max_tokens}`);
      for (const l of limits as YamlRateLimit[]) addLimit(path, l, key);
      continue;
    }
    for (const part of value.split(',')) {
      const [name, n] = part.split('=').map((s) => s.trim());
      const short = rateShorthand[name?.toLowerCase() ?? ''];
      if (!short) throw new Error(`${key}: unknown limit "${name}" (known: ${Object.keys(rateShorthand).join(', ')})`);
      add(path, short[0], short[1], n, key);
    }
  }
  return [...defs.values()];
}

/** Virtual models of config.yaml, then of VIRTUAL_MODELS (a JSON array), which replace those of the same source. */
function virtualModelDefinitions(env: Env, yaml: YamlConfig): VirtualModelDefinition[] {
  const defs = new Map<string, VirtualModelDefinition>();
  const read = (list: unknown, where: string) => {
    if (!Array.isArray(list)) throw new Error(`${where}: expected a list of virtual models`);
    const seen = new Set<string>();
    list.forEach((raw, i) => {
      let def: VirtualModelDefinition;
      try {
        def = parseVirtualModel(raw);
      } catch (err) {
        if (err instanceof DefinitionError) throw new Error(`${where}[${i}]: ${err.message}`);
        throw err;
      }
      if (seen.has(def.source)) throw new Error(`${where}[${i}]: source "${def.source}" is defined twice`);
      seen.add(def.source);
      defs.set(def.source, def);
    });
  };
  if (yaml.virtual_models !== undefined && yaml.virtual_models !== null) read(yaml.virtual_models, 'config.yaml virtual_models');
  const json = env.VIRTUAL_MODELS?.trim();
  if (json) {
    let list: unknown;
    try {
      list = JSON.parse(json);
    } catch {
      throw new Error('VIRTUAL_MODELS: not valid JSON (expected an array of {source, target_model | targets, strategy, user_paths, description, enabled})');
    }
    read(list, 'VIRTUAL_MODELS');
  }
  return [...defs.values()];
}

/**
 * Failover chains from `failover.rules` and FAILOVER_RULES_JSON (which wins for the same primary
 * model), each either `{"primary": ["fallback", …]}` or `[{"primary_model", "fallback_models"}]`.
 */
function failoverRules(env: Env, yaml: YamlConfig): Map<string, readonly string[]> {
  const rules = new Map<string, readonly string[]>();
  const add = (value: unknown, where: string) => {
    if (value === undefined || value === null) return;
    if (typeof value !== 'object') throw new Error(`${where}: expected an object of primary model to fallback models, or a list of {primary_model, fallback_models}`);
    const entries: [unknown, unknown][] = Array.isArray(value)
      ? value.map((r: { primary_model?: unknown; fallback_models?: unknown } | null): [unknown, unknown] => [r?.primary_model, r?.fallback_models])
      : Object.entries(value);
    for (const [primary, fallbacks] of entries) {
      if (typeof primary !== 'string' || !primary.trim()) throw new Error(`${where}: a rule needs a primary_model`);
      if (!Array.isArray(fallbacks) || fallbacks.some((f) => typeof f !== 'string' || !f.trim())) {
        throw new Error(`${where}: fallback models of "${primary}" must be a list of model selectors`);
      }
      const chain = [...new Set((fallbacks as string[]).map((f) => f.trim()))].filter((f) => f !== primary.trim());
      rules.set(primary.trim(), Object.freeze(chain));
    }
  };
  add(yaml.failover?.rules, 'config.yaml failover.rules');
  const json = env.FAILOVER_RULES_JSON?.trim();
  if (json) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw new Error('FAILOVER_RULES_JSON: not valid JSON');
    }
    add(parsed, 'FAILOVER_RULES_JSON');
  }
  return rules;
}

/** A config.yaml section under the environment: each value given becomes its variable's, unless the environment sets that variable (a list is joined by commas). */
function yamlUnderEnv(env: Env, values: [variable: string, value: unknown][]): Env {
  const merged: Env = {};
  for (const [name, value] of values) if (value !== undefined && value !== null) merged[name] = Array.isArray(value) ? value.join(',') : String(value);
  return { ...merged, ...env };
}

function breakerSettings(env: Env, yaml: YamlConfig): BreakerSettings {
  const y = yaml.resilience?.circuit_breaker ?? {};
  const merged = yamlUnderEnv(env, [['CIRCUIT_BREAKER_FAILURE_THRESHOLD', y.failure_threshold], ['CIRCUIT_BREAKER_SUCCESS_THRESHOLD', y.success_threshold], ['CIRCUIT_BREAKER_TIMEOUT', y.timeout]]);
  return {
    failureThreshold: envInt(merged, 'CIRCUIT_BREAKER_FAILURE_THRESHOLD', 5, 1, 1_000_000),
    successThreshold: envInt(merged, 'CIRCUIT_BREAKER_SUCCESS_THRESHOLD', 2, 1, 1000),
    openMs: envDuration(merged, 'CIRCUIT_BREAKER_TIMEOUT', 30_000),
  };
}

/** USAGE_RETENTION, else the original's USAGE_RETENTION_DAYS, else `retention.usage` of config.yaml; unset keeps rows forever. */
function usageRetention(env: Env, yaml: YamlConfig): number | null {
  const text = env.USAGE_RETENTION?.trim();
  const days = env.USAGE_RETENTION_DAYS?.trim();
  if (text && days) throw new Error('set USAGE_RETENTION or USAGE_RETENTION_DAYS, not both');
  if (text) return parseRetention('USAGE_RETENTION', text);
  if (days) return envInt(env, 'USAGE_RETENTION_DAYS', 0) * 86_400_000 || null;
  const y = yaml.retention?.usage;
  return y === undefined ? null : parseRetention('retention.usage', String(y));
}

/** AUDIT_* from the environment, over the `audit:` section of config.yaml. */
function auditSettings(env: Env, yaml: YamlConfig): Config['audit'] {
  const y = yaml.audit ?? {};
  const merged = yamlUnderEnv(env, [
    ['AUDIT_ENABLED', y.enabled],
    ['AUDIT_BODIES', y.bodies],
    ['AUDIT_BODY_MAX_BYTES', y.body_max_bytes],
    ['AUDIT_REDACT_FIELDS', y.redact_fields],
    ['AUDIT_RETENTION', y.retention],
  ]);
  return {
    enabled: envBool(merged, 'AUDIT_ENABLED', true),
    bodies: envBool(merged, 'AUDIT_BODIES', false),
    bodyMaxBytes: envBytes(merged, 'AUDIT_BODY_MAX_BYTES', 64 * 1024),
    redactFields: envString(merged, 'AUDIT_REDACT_FIELDS', 'api_key,apikey,authorization,password,secret,access_token,refresh_token,client_secret')
      .split(',')
      .map((f) => f.trim().toLowerCase())
      .filter(Boolean),
    retentionMs: parseRetention('AUDIT_RETENTION', envString(merged, 'AUDIT_RETENTION', '30d')),
  };
}

/** GOMODEL_CREDENTIALS_KEY: 32 bytes, as base64 (`openssl rand -base64 32`) or hex (`openssl rand -hex 32`). */
function credentialsKey(env: Env): Buffer | null {
  const text = env.GOMODEL_CREDENTIALS_KEY?.trim();
  if (!text) return null;
  const key = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : /^[A-Za-z0-9+/_-]+={0,2}$/.test(text) ? Buffer.from(text, 'base64') : null;
  if (key?.length !== 32) throw new Error('GOMODEL_CREDENTIALS_KEY must be 32 bytes in base64 or hex: generate one with `openssl rand -base64 32`');
  return key;
}

const cacheScopes: readonly CacheScope[] = ['caller', 'user_path', 'shared'];

/** `cache:` of config.yaml under the CACHE_* variables (which win); CACHE_RULES (a JSON array) replaces `cache.rules`. */
function cacheSettings(env: Env, yaml: YamlConfig): CacheSettings {
  const y = yaml.cache ?? {};
  const e = yamlUnderEnv(env, [
    ['CACHE_ENABLED', y.enabled],
    ['CACHE_TTL', y.ttl],
    ['CACHE_MAX_BYTES', y.max_bytes],
    ['CACHE_MAX_ENTRY_BYTES', y.max_entry_bytes],
    ['CACHE_SCOPE', y.scope],
  ]);
  const scope = envString(e, 'CACHE_SCOPE', 'caller') as CacheScope;
  if (!cacheScopes.includes(scope)) throw new Error(`CACHE_SCOPE must be one of ${cacheScopes.join(', ')}, got "${scope}"`);
  const ttlMs = envDuration(e, 'CACHE_TTL', 3_600_000);
  if (ttlMs < 1000) throw new Error('CACHE_TTL must be at least 1s');
  let rules: unknown = y.rules ?? [];
  let where = 'config.yaml cache.rules';
  if (env.CACHE_RULES?.trim()) {
    where = 'CACHE_RULES';
    try {
      rules = JSON.parse(env.CACHE_RULES);
    } catch {
      throw new Error('CACHE_RULES: not valid JSON (expected an array of {user_path, model, ttl})');
    }
  }
  if (!Array.isArray(rules)) throw new Error(`${where}: expected a list of {user_path, model, ttl}`);
  return {
    enabled: envBool(e, 'CACHE_ENABLED', envBool(env, 'RESPONSE_CACHE_SIMPLE_ENABLED', false)),
    ttlMs,
    maxBytes: envBytes(e, 'CACHE_MAX_BYTES', 256 * 1024 * 1024),
    maxEntryBytes: envBytes(e, 'CACHE_MAX_ENTRY_BYTES', 1024 * 1024),
    memoryBytes: envBytes(e, 'CACHE_MEMORY_BYTES', 8 * 1024 * 1024),
    scope,
    sweepMs: envDuration(e, 'CACHE_SWEEP_INTERVAL', 60_000),
    rules: rules.map((raw: unknown, i: number): CacheRule => {
      const r = (raw ?? {}) as { user_path?: unknown; model?: unknown; ttl?: unknown };
      const known = new Set(['user_path', 'model', 'ttl']);
      const extra = typeof raw === 'object' && raw !== null ? Object.keys(raw).find((k) => !known.has(k)) : 'not an object';
      if (extra) throw new Error(`${where}[${i}]: unknown field "${extra}" (known: user_path, model, ttl)`);
      if (r.user_path !== undefined && typeof r.user_path !== 'string') throw new Error(`${where}[${i}]: user_path must be a string`);
      if (r.model !== undefined && (typeof r.model !== 'string' || !r.model.trim())) throw new Error(`${where}[${i}]: model must be a model id`);
      const rule: CacheRule = {};
      if (r.user_path !== undefined) rule.userPath = normalizeUserPath(r.user_path) ?? '/';
      if (typeof r.model === 'string') rule.model = r.model.trim();
      if (r.ttl !== undefined) rule.ttlMs = envDuration({ ttl: String(r.ttl) }, 'ttl', 0);
      return rule;
    }),
  };
}

export function loadConfig(env: Env = process.env): Readonly<Config> {
  const dataDir = envString(env, 'GOMODEL_DATA_DIR', './data');
  const yaml = readYaml(env);
  const pricing: PriceOverride[] = [...(yaml.pricing ?? [])];
  const providers = mergeProviders(env, yaml, pricing);
  const unknownPrice = envString(env, 'BUDGET_UNKNOWN_PRICE', 'allow');
  if (unknownPrice !== 'allow' && unknownPrice !== 'deny') throw new Error(`BUDGET_UNKNOWN_PRICE must be allow or deny, got "${unknownPrice}"`);
  const metricsPath = envString(env, 'METRICS_ENDPOINT', '/metrics');
  if (!metricsPath.startsWith('/') || metricsPath.startsWith('/v1') || metricsPath.startsWith('/admin')) {
    throw new Error(`METRICS_ENDPOINT must be a path outside /v1 and /admin, got "${metricsPath}"`);
  }
  const masterKey = env.GOMODEL_MASTER_KEY?.trim() || null;
  const metricsAuth = envBool(env, 'METRICS_AUTH', false);
  if (metricsAuth && !masterKey) throw new Error('METRICS_AUTH=true asks for the master key on the metrics endpoint: set GOMODEL_MASTER_KEY');
  return Object.freeze({
    port: envInt(env, 'PORT', 8080, 0, 65535),
    workers: env.GOMODEL_WORKERS?.trim() === 'auto' ? availableParallelism() : envInt(env, 'GOMODEL_WORKERS', 1, 1, 256),
    masterKey,
    bodySizeLimit: envBytes(env, 'BODY_SIZE_LIMIT', 10 * 1024 * 1024),
    logLevel: envString(env, 'LOG_LEVEL', 'info'),
    dataDir,
    postgres: { url: env.POSTGRES_URL?.trim() || null, maxConnections: envInt(env, 'POSTGRES_MAX_CONNS', 10, 1) },
    usage: {
      flushIntervalMs: envDuration(env, 'USAGE_FLUSH_INTERVAL', 1000),
      bufferSize: envInt(env, 'USAGE_BUFFER_SIZE', 10_000, 100),
      journalDir: envString(env, 'USAGE_SPILL_DIR', `${dataDir}/usage-spill`),
      journalFsyncMs: envDuration(env, 'USAGE_JOURNAL_FSYNC_INTERVAL', 1000),
      enforceReturningUsage: envBool(env, 'ENFORCE_RETURNING_USAGE_DATA', true),
      retentionMs: usageRetention(env, yaml),
    },
    audit: auditSettings(env, yaml),
    shutdownTimeoutMs: envDuration(env, 'SHUTDOWN_TIMEOUT', 30_000),
    adminEndpointsEnabled: envBool(env, 'ADMIN_ENDPOINTS_ENABLED', true),
    adminUiEnabled: envBool(env, 'ADMIN_ENDPOINTS_ENABLED', true) && envBool(env, 'ADMIN_UI_ENABLED', true),
    providers,
    modelsRefreshMs: envDuration(env, 'CACHE_REFRESH_INTERVAL', 3_600_000),
    http: {
      timeoutMs: envDuration(env, 'HTTP_TIMEOUT', 600_000),
      headerTimeoutMs: envDuration(env, 'HTTP_RESPONSE_HEADER_TIMEOUT', 600_000),
      replySizeLimit: envBytes(env, 'UPSTREAM_REPLY_SIZE_LIMIT', 10 * 1024 * 1024),
    },
    retry: {
      maxRetries: envInt(env, 'RETRY_MAX_RETRIES', 3, 0, 10),
      initialBackoffMs: envDuration(env, 'RETRY_INITIAL_BACKOFF', 1000),
      maxBackoffMs: envDuration(env, 'RETRY_MAX_BACKOFF', 30_000),
      factor: envNumber(env, 'RETRY_BACKOFF_FACTOR', 2, 1, 10),
      jitter: envNumber(env, 'RETRY_JITTER_FACTOR', 0.1, 0, 1),
    },
    failover: { enabled: envBool(env, 'FAILOVER_ENABLED', yaml.failover?.enabled ?? true), rules: failoverRules(env, yaml) },
    breaker: breakerSettings(env, yaml),
    keyRest: { rateLimitedMs: envDuration(env, 'PROVIDER_KEY_RATE_LIMIT_REST', 60_000), refusedMs: envDuration(env, 'PROVIDER_KEY_AUTH_REST', 600_000) },
    credentialsKey: credentialsKey(env),
    userPathHeader: envString(env, 'USER_PATH_HEADER', 'X-GoModel-User-Path'),
    tagging: taggingRules(env, yaml),
    pricing,
    anthropicDefaultMaxTokens: envInt(env, 'ANTHROPIC_DEFAULT_MAX_TOKENS', 4096, 1),
    metrics: { enabled: envBool(env, 'METRICS_ENABLED', false), path: metricsPath, auth: metricsAuth },
    budgets: {
      enabled: envBool(env, 'BUDGETS_ENABLED', yaml.budgets?.enabled ?? true),
      definitions: budgetDefinitions(env, yaml),
      unknownPrice: unknownPrice as 'allow' | 'deny',
      maxOutputTokens: envInt(env, 'BUDGET_MAX_OUTPUT_TOKENS', 16_384, 1),
      leaseTtlMs: envDuration(env, 'BUDGET_LEASE_TTL', 60_000),
      drain: { ms: envDuration(env, 'BUDGET_DRAIN_TIMEOUT', 60_000), bytes: envBytes(env, 'BUDGET_DRAIN_BYTES', 16 * 1024 * 1024) },
    },
    rateLimits: {
      enabled: envBool(env, 'RATE_LIMITS_ENABLED', yaml.rate_limits?.enabled ?? true),
      definitions: rateLimitDefinitions(env, yaml),
      leaseTtlMs: envDuration(env, 'RATE_LIMIT_LEASE_TTL', 15_000),
    },
    openrouter: { siteUrl: env.OPENROUTER_SITE_URL?.trim() ?? '', appName: env.OPENROUTER_APP_NAME?.trim() ?? '' },
    virtualModels: virtualModelDefinitions(env, yaml),
    cache: cacheSettings(env, yaml),
  });
}
