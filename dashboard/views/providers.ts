import { getProvidersStatus, listFailoverRules } from '../../generated/sdk.gen.ts';
import type { FailoverView, ProvidersStatusResponse } from '../../generated/types.gen.ts';
import { call } from '../api.ts';
import { h } from '../dom.ts';
import { formatInt, formatTime, UNKNOWN } from '../format.ts';
import type { View } from '../router.ts';
import { errorRegion, loadInto, pageHeading, row, section, table } from './shared.ts';

/** Health is refreshed this often while the page is open. */
const LIVE_MS = 2000;

const ms = (n: number | undefined) => (n === undefined ? UNKNOWN : `${formatInt(n)} ms`);

/** Each provider's health as this gateway process sees it, its circuit breakers, and the failover rules. */
export const providersView: View = {
  title: 'Providers',
  mount(root, signal) {
    const errors = errorRegion();
    const summary = h('p', { class: 'hint', id: 'provider-summary' });
    const providers = h('div', { id: 'provider-list' });
    const breakers = h('div', { id: 'breaker-list' });
    const rules = h('div', { id: 'failover-list' });

    root.append(
      pageHeading('Providers'),
      errors.element,
      section('Provider health', summary, providers),
      section('Circuit breakers', h('p', { class: 'hint' }, 'Models that failed lately. An open breaker sends requests to the next model of their failover rule, or refuses them, until its probe succeeds.'), breakers),
      section('Failover rules', rules),
    );

    function show(status: ProvidersStatusResponse): void {
      const s = status.summary;
      summary.textContent = `${s.overall_status}: ${s.healthy} healthy, ${s.degraded} degraded, ${s.unhealthy} unhealthy of ${s.total}.`;
      providers.replaceChildren(
        table(
          'Status of each provider',
          [{ label: 'Provider' }, { label: 'Status' }, { label: 'p50', numeric: true }, { label: 'p95', numeric: true }, { label: 'p99', numeric: true }, { label: 'Answered', numeric: true }, { label: 'Failed', numeric: true }, { label: 'Last error' }],
          status.providers.map((p) =>
            row(
              [
                p.name === p.type ? p.name : `${p.name} (${p.type})`,
                h('span', {}, h('span', { class: `status status-${p.status}` }, p.status_label), h('span', { class: 'status-reason' }, p.status_reason)),
                ms(p.runtime.latency_ms?.p50),
                ms(p.runtime.latency_ms?.p95),
                ms(p.runtime.latency_ms?.p99),
                formatInt(p.runtime.successes ?? 0),
                formatInt(p.runtime.failures ?? 0),
                p.last_error || '—',
              ],
              2,
            ),
          ),
          'No provider is configured.',
        ),
      );
      const open = status.providers.flatMap((p) => (p.runtime.breakers ?? []).map((b) => ({ provider: p.name, ...b })));
      breakers.replaceChildren(
        table(
          'Breakers by model',
          [{ label: 'Provider' }, { label: 'Model' }, { label: 'State' }, { label: 'Failures in a row', numeric: true }, { label: 'Probe at' }, { label: 'Last error' }],
          open.map((b) => row([b.provider, b.model, b.state.replace('_', ' '), formatInt(b.consecutive_failures), b.retry_at ? formatTime(b.retry_at) : '—', b.last_error], 3)),
          'Every breaker is closed.',
        ),
      );
    }

    function showRules(list: FailoverView[]): void {
      rules.replaceChildren(
        table(
          'Rules by model',
          [{ label: 'Model' }, { label: 'Then try' }, { label: 'Enabled' }, { label: 'Source' }],
          list.map((r) => row([r.primary_model, r.fallback_models.join(' → '), r.enabled ? 'yes' : 'no', r.managed_source])),
          'No failover rules.',
        ),
      );
    }

    const refresh = () =>
      loadInto(signal, errors, async () => {
        show(await call(getProvidersStatus({ signal })));
        // Failover may be off (503): the health above still shows.
        showRules(await call(listFailoverRules({ signal })).catch(() => []));
      });
    void refresh();
    const timer = setInterval(() => void refresh(), LIVE_MS);
    signal.addEventListener('abort', () => clearInterval(timer));
  },
};
