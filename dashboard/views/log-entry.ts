import type { UsageUsageLogEntry } from '../../generated/types.gen.ts';
import { showModal } from '../dialogs.ts';
import { h } from '../dom.ts';
import { UNKNOWN, formatInt, formatPercent, formatProvider, formatTime, formatUsd } from '../format.ts';

const pairs = (entries: [string, string][]) => h('dl', { class: 'pairs' }, ...entries.map(([term, value]) => h('div', {}, h('dt', {}, term), h('dd', {}, value))));

/** The details of one usage row: where it went, its token split, its cost and how it was computed. */
export function showLogEntry(e: UsageUsageLogEntry): void {
  const costKnown = e.total_cost !== undefined;
  showModal(`${e.model ?? 'Request'} · ${formatTime(e.timestamp)}`, [
    h('h3', {}, 'Request'),
    pairs([
      ['Request id', e.request_id ?? UNKNOWN],
      ['Provider id', e.provider_id || UNKNOWN],
      ['Provider', formatProvider(e.provider, e.provider_name)],
      ['Endpoint', e.endpoint ?? UNKNOWN],
      ['User path', e.user_path ?? UNKNOWN],
      ['Labels', e.labels?.length ? e.labels.join(', ') : 'none'],
      ['Session', e.session_id || 'none'],
      ['Gateway cache', e.cache_type || 'none (provider call)'],
    ]),
    h('h3', {}, 'Tokens'),
    pairs([
      ['Input', formatInt(e.input_tokens)],
      ['… uncached', formatInt(e.uncached_input_tokens)],
      ['… cached read', formatInt(e.cached_input_tokens)],
      ['… cache write', formatInt(e.cache_write_input_tokens)],
      ['Cached share of input', formatPercent(e.cached_input_ratio)],
      ['Output', formatInt(e.output_tokens)],
      ['Total', formatInt(e.total_tokens)],
    ]),
    h('h3', {}, 'Cost'),
    pairs([
      ['Input', formatUsd(e.input_cost)],
      ['Output', formatUsd(e.output_cost)],
      ['Total', costKnown ? formatUsd(e.total_cost) : `${UNKNOWN} (unknown)`],
      ['Source', e.cost_source || UNKNOWN],
      ['Caveat', e.costs_calculation_caveat || 'none'],
    ]),
    h('h3', {}, 'Raw usage data'),
    h('pre', { class: 'raw', tabindex: 0, 'aria-label': 'Raw usage data' }, e.raw_data ? JSON.stringify(e.raw_data, null, 2) : 'none'),
  ]);
}
