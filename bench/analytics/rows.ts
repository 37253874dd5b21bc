import { rowId } from '../../src/usage/row-id.ts';
import type { UsageRecord } from '../../src/usage/record.ts';
import { hourWeight, labels, models, userPaths, type ModelSpec } from './dataset.ts';

const HOUR = 3_600_000;

/** mulberry32: a small seeded generator, so every run loads the same distribution. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A lookup table of `size` slots filled in proportion to the weights: O(1) weighted picks. */
function picker<T>(items: readonly T[], weight: (i: number) => number, size = 4096): (r: number) => T {
  const weights = items.map((_, i) => weight(i));
  const total = weights.reduce((a, b) => a + b, 0);
  const table: T[] = [];
  let acc = 0;
  items.forEach((item, i) => {
    acc += weights[i]!;
    while (table.length < Math.round((acc / total) * size)) table.push(item);
  });
  return (r) => table[Math.floor(r * table.length)]!;
}

const pickModel = picker(models, (i) => 1 / (i + 1));
const pickPath = picker(userPaths, (i) => 1 / Math.sqrt(i + 1));
const pickLabel = picker(labels, (i) => 1 / Math.sqrt(i + 1));

/**
 * A service calls a few models and tags its requests alike: each path gets three models (by
 * popularity) for 90% of its traffic and three labels it draws from, the rest is spread over
 * everything. This is what keeps real rollups far smaller than the raw table.
 */
interface Habits {
  models: ModelSpec[];
  labels: string[];
}

const habits = new Map<string, Habits>(
  (() => {
    const rand = rng(12345);
    return userPaths.map((path): [string, Habits] => [
      path,
      { models: [pickModel(rand()), pickModel(rand()), pickModel(rand())], labels: [pickLabel(rand()), pickLabel(rand()), pickLabel(rand())] },
    ]);
  })(),
);

const money = (usd: number) => usd.toFixed(10);

/** The columns each COPY line carries, in order; the others take their defaults. */
export const copyColumns = [
  'id', 'request_id', 'provider_id', 'timestamp', 'model', 'provider', 'provider_name', 'endpoint', 'user_path',
  'cache_type', 'labels', 'input_tokens', 'output_tokens', 'total_tokens', 'uncached_input_tokens',
  'cached_input_tokens', 'cache_write_input_tokens', 'reasoning_tokens', 'raw_data', 'input_cost', 'output_cost',
  'total_cost', 'cost_source', 'costs_calculation_caveat',
] as const;

/** Rows per hour of the span, in proportion to each hour's weight, adding up to `count`. */
function hourlyCounts(startMs: number, endMs: number, count: number): number[] {
  const hours = Math.ceil((endMs - startMs) / HOUR);
  const weights = Array.from({ length: hours }, (_, h) => hourWeight(new Date(startMs + h * HOUR)));
  const total = weights.reduce((a, b) => a + b, 0);
  const counts: number[] = [];
  let acc = 0;
  let given = 0;
  for (const w of weights) {
    acc += w;
    const upTo = Math.round((acc / total) * count);
    counts.push(upTo - given);
    given = upTo;
  }
  return counts;
}

/** murmur3's finaliser: a well-mixed 32-bit value of (seq, salt), so ids cost no draws from `rand`. */
function mix(seq: number, salt: number): number {
  let h = (Math.imul(seq | 0, 0x9e3779b1) ^ Math.imul((seq / 4294967296) | 0, 0x85ebca77) ^ salt) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const hex8 = (seq: number, salt: number) => mix(seq, salt).toString(16).padStart(8, '0');
const base62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
function token(seq: number, length: number): string {
  let t = '';
  for (let i = 0; i < length; i++) t += base62[mix(seq, 0x1000 + i) % 62];
  return t;
}

/** A request id as the gateway makes one (a random UUID), unique per `seq`. */
function requestId(seq: number): string {
  const h = hex8(seq, 1) + hex8(seq, 2) + hex8(seq, 3) + hex8(seq, 4);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A provider's response id in its own shape: OpenAI-style `chatcmpl-…`, Anthropic `msg_01…`, Gemini's bare token. */
function providerId(provider: string, seq: number): string {
  if (provider === 'anthropic') return `msg_01${token(seq, 22)}`;
  if (provider === 'gemini') return token(seq, 24);
  return `chatcmpl-${token(seq, 29)}`;
}

/** A row as the gateway would record it for a request at `at` (ms), with the dataset's habits. */
export function syntheticRow(rand: () => number, at: number, seq: number): UsageRecord {
  const userPath = pickPath(rand());
  const usual = habits.get(userPath)!;
  const spec: ModelSpec = rand() < 0.9 ? usual.models[Math.floor(rand() * 3)]! : pickModel(rand());
  const labelCount = [0, 0, 0, 0, 1, 1, 1, 2, 2, 3][Math.floor(rand() * 10)]!;
  const rowLabels = new Set<string>();
  for (let i = 0; i < labelCount; i++) rowLabels.add(rand() < 0.9 ? usual.labels[i]! : pickLabel(rand()));
  const c = rand();
  const embeddings = spec.endpoint !== '/v1/chat/completions';
  // A stream cut short or a provider that reported nothing: no tokens, unknown cost.
  const noUsage = rand() < 0.02;
  const gauss = () => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
  const input = noUsage ? 0 : Math.min(200_000, Math.max(5, Math.round(Math.exp(7.3 + gauss()))));
  const output = noUsage || embeddings ? 0 : Math.min(32_000, Math.max(1, Math.round(Math.exp(5.7 + 0.9 * gauss()))));
  const cached = rand() < 0.6 ? Math.floor(input * spec.cachedShare * rand()) : 0;
  const write = spec.provider === 'anthropic' && rand() < 0.2 ? Math.floor((input - cached) * 0.3) : 0;
  const priced = !noUsage && spec.input !== null && spec.output !== null;
  const inCost = priced ? ((input - cached - write) * spec.input! + cached * spec.input! * 0.5 + write * spec.input! * 1.25) / 1e6 : 0;
  const outCost = priced ? (output * spec.output!) / 1e6 : 0;
  return {
    id: rowId(at),
    request_id: requestId(seq),
    provider_id: embeddings ? '' : providerId(spec.provider, seq),
    timestamp: new Date(at),
    model: spec.model,
    provider: spec.provider,
    provider_name: spec.providerName,
    endpoint: spec.endpoint,
    user_path: userPath,
    cache_type: c < 0.07 ? 'exact' : c < 0.1 ? 'semantic' : '',
    labels: [...rowLabels],
    input_tokens: input,
    output_tokens: output,
    total_tokens: input + output,
    uncached_input_tokens: input - cached - write,
    cached_input_tokens: cached,
    cache_write_input_tokens: write,
    reasoning_tokens: /o3|reasoner/.test(spec.model) ? Math.floor(output * 0.6) : 0,
    raw_data: cached > 0 ? { [spec.provider === 'anthropic' ? 'cache_read_input_tokens' : 'prompt_cached_tokens']: cached } : null,
    input_cost: priced ? money(inCost) : null,
    output_cost: priced ? money(outCost) : null,
    total_cost: priced ? money(inCost + outCost) : null,
    cost_source: priced ? 'model_pricing' : '',
    costs_calculation_caveat: noUsage ? 'stream failed before the provider reported usage' : priced ? '' : `no price for ${spec.provider}/${spec.model}`,
    budget_reservation_id: null,
    budget_reserved: null,
    auth_key_id: null,
    auth_method: 'master_key',
    requested_model: spec.model,
    session_id: null,
    saved_cost: null,
  };
}

const copyNull = '\\N';

/** One row in COPY text format (tab-separated, \N for NULL), columns in `copyColumns` order. */
function copyLine(r: UsageRecord): string {
  return [
    r.id, r.request_id, r.provider_id, r.timestamp.toISOString(), r.model, r.provider, r.provider_name, r.endpoint,
    r.user_path, r.cache_type, `{${r.labels.join(',')}}`, r.input_tokens, r.output_tokens, r.total_tokens,
    r.uncached_input_tokens, r.cached_input_tokens, r.cache_write_input_tokens, r.reasoning_tokens,
    r.raw_data ? JSON.stringify(r.raw_data) : copyNull, r.input_cost ?? copyNull, r.output_cost ?? copyNull,
    r.total_cost ?? copyNull, r.cost_source, r.costs_calculation_caveat,
  ].join('\t');
}

/**
 * `count` usage rows spread over [startMs, endMs) in time order, as COPY text in chunks of about
 * `chunkRows` rows.
 */
export function* usageCopyText(count: number, startMs: number, endMs: number, seed: number, chunkRows = 1000): Generator<string> {
  const rand = rng(seed);
  const counts = hourlyCounts(startMs, endMs, count);
  let seq = seed * 100_000_000;
  let lines: string[] = [];
  for (let h = 0; h < counts.length; h++) {
    const n = counts[h]!;
    const hourStart = startMs + h * HOUR;
    const span = Math.min(HOUR, endMs - hourStart);
    for (let i = 0; i < n; i++) {
      lines.push(copyLine(syntheticRow(rand, hourStart + Math.floor(((i + rand()) / n) * span), seq++)));
      if (lines.length >= chunkRows) {
        yield lines.join('\n') + '\n';
        lines = [];
      }
    }
  }
  if (lines.length) yield lines.join('\n') + '\n';
}
