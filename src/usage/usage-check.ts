import type { TokenUsage } from '../providers/types.ts';
import type { Json } from '../providers/types.ts';

const counts = [
  ['inputTokens', 'input_tokens'],
  ['cachedInputTokens', 'cached_input_tokens'],
  ['cacheWriteInputTokens', 'cache_write_input_tokens'],
  ['outputTokens', 'output_tokens'],
  ['reasoningTokens', 'reasoning_tokens'],
  ['totalTokens', 'total_tokens'],
] as const;

const invalidUsageCaveat = 'provider reported invalid token counts: negative ones counted as 0, fractions rounded up';

const valid = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;

/** A count the row and the cost can take: negative, missing or not a number → 0; fractions rounded up; at most 2^53 − 1. */
function repaired(v: unknown): number {
  if (typeof v !== 'number' || !(v > 0)) return 0;
  return Math.min(Math.ceil(v), Number.MAX_SAFE_INTEGER);
}

/**
 * Token counts as a usage row and its cost need them: non-negative whole numbers. A provider's
 * counts are not trusted to be: a negative one would lower the spend of a budget, a fraction fails
 * the row's insert or the cost's integer arithmetic. Counts that are not are repaired, the ones
 * reported kept under `raw.invalid_usage`, and a caveat says so. Never throws.
 */
export function checkedUsage(u: TokenUsage): { usage: TokenUsage; caveat: string } {
  if (counts.every(([field]) => valid(u[field]))) return { usage: u, caveat: '' };
  const reported: Record<string, Json> = {};
  const usage = { ...u };
  for (const [field, column] of counts) {
    const v = u[field];
    if (valid(v)) continue;
    reported[column] = typeof v === 'number' && Number.isFinite(v) ? v : String(v);
    usage[field] = repaired(v);
  }
  usage.raw = { ...u.raw, invalid_usage: reported };
  return { usage, caveat: invalidUsageCaveat };
}
