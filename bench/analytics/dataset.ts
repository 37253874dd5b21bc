/**
 * The shape of a realistic gateway's history: 20 models over 6 providers with skewed popularity,
 * 200 user paths in an org/team/service tree, 30 labels (0–3 per row), 10% gateway-cache hits,
 * some rows without a known price, and a daily and weekly rhythm.
 */

export interface ModelSpec {
  provider: string;
  providerName: string;
  model: string;
  endpoint: string;
  /** USD per million input / output tokens; null when the gateway knows no price. */
  input: number | null;
  output: number | null;
  /** Share of input tokens the provider reports as cached reads. */
  cachedShare: number;
}

const chat = '/v1/chat/completions';
const m = (provider: string, model: string, input: number | null, output: number | null, cachedShare = 0, providerName = provider, endpoint = chat): ModelSpec => ({
  provider,
  providerName,
  model,
  endpoint,
  input,
  output,
  cachedShare,
});

/** Most popular first; popularity falls off as 1/rank. */
export const models: ModelSpec[] = [
  m('openai', 'gpt-4o-mini', 0.15, 0.6, 0.3),
  m('anthropic', 'claude-sonnet-4-5', 3, 15, 0.4),
  m('openai', 'gpt-4.1', 2, 8, 0.3),
  m('gemini', 'gemini-2.5-flash', 0.3, 2.5, 0.2),
  m('openai', 'gpt-4o', 2.5, 10, 0.3, 'openai-east'),
  m('deepseek', 'deepseek-chat', 0.27, 1.1, 0.5),
  m('anthropic', 'claude-haiku-4-5', 1, 5, 0.4),
  m('groq', 'llama-3.3-70b-versatile', 0.59, 0.79),
  m('openai', 'text-embedding-3-small', 0.02, 0, 0, 'openai', '/v1/embeddings'),
  m('gemini', 'gemini-2.5-pro', 1.25, 10, 0.2),
  m('openrouter', 'anthropic/claude-sonnet-4.5', 3, 15, 0.4),
  m('openai', 'gpt-4.1-mini', 0.4, 1.6, 0.3),
  m('deepseek', 'deepseek-reasoner', 0.55, 2.19, 0.5),
  m('groq', 'llama-3.1-8b-instant', 0.05, 0.08),
  m('openrouter', 'qwen/qwen3-235b-a22b', null, null),
  m('anthropic', 'claude-opus-4-1', 15, 75, 0.4),
  m('gemini', 'gemini-2.0-flash', 0.1, 0.4, 0.2),
  m('openai', 'o3-mini', 1.1, 4.4, 0.3),
  m('openrouter', 'meta-llama/llama-3.3-70b-instruct', null, null),
  m('openrouter', 'mistralai/mistral-large', 2, 6),
];

const orgs = ['acme', 'globex', 'initech', 'umbrella', 'hooli'];
const teams = ['search', 'support', 'growth', 'platform'];
const services = ['api', 'batch', 'chat', 'eval', 'ingest', 'rank', 'summarise', 'tagger', 'triage', 'web'];

/** /org/team/service: 5 × 4 × 10 = 200 paths. */
export const userPaths = orgs.flatMap((o) => teams.flatMap((t) => services.map((s) => `/${o}/${t}/${s}`)));

export const labels = [
  ...['prod', 'staging', 'dev'].map((e) => `env:${e}`),
  ...['search', 'chat', 'summary', 'extract', 'classify', 'translate', 'code', 'eval', 'agent', 'rag'].map((f) => `feature:${f}`),
  ...['web', 'ios', 'android', 'cli', 'api'].map((c) => `client:${c}`),
  ...['free', 'pro', 'enterprise'].map((t) => `tier:${t}`),
  ...['eu', 'us', 'apac'].map((r) => `region:${r}`),
  ...['experiment-a', 'experiment-b', 'batch', 'backfill', 'canary', 'priority'],
];

/** Filters the analytics cases use, chosen from the data so every filter matches rows. */
export const sample = {
  org: '/acme',
  team: '/acme/search',
  model: 'claude-sonnet-4-5',
  provider: 'anthropic',
  label: 'feature:search',
  search: 'claude',
};

/** Relative traffic at an hour of the week (UTC): busy working hours, quiet nights and weekends. */
export function hourWeight(t: Date): number {
  const h = t.getUTCHours();
  const weekday = t.getUTCDay() % 6 !== 0;
  const daytime = 0.25 + Math.max(0, Math.sin(((h - 6) / 14) * Math.PI));
  return daytime * (weekday ? 1 : 0.35);
}
