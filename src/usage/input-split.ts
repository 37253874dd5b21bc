import type { Row } from 'postgres';
import { toInt } from '../db/sql.ts';

/** A usage row's input tokens by how the provider's prompt cache treated them, and the cached share of them all. */
export function rowInputSplit(r: Row) {
  const uncached = toInt(r.uncached_input_tokens);
  const cached = toInt(r.cached_input_tokens);
  const write = toInt(r.cache_write_input_tokens);
  const input = uncached + cached + write;
  return { uncached_input_tokens: uncached, cached_input_tokens: cached, cache_write_input_tokens: write, cached_input_ratio: input > 0 ? cached / input : 0 };
}
