import { getAuditConversation, getAuditLog, getAuditLogDetail, getAuditStats } from '../../generated/sdk.gen.ts';
import type { AdminAuditLogEntryResponse, GetAuditLogData } from '../../generated/types.gen.ts';
import { call, describeError } from '../api.ts';
import { createLatencyChart, createStatusChart } from '../charts/audit-stats.ts';
import { showModal } from '../dialogs.ts';
import { h } from '../dom.ts';
import { UNKNOWN, formatInt, formatPercent, formatProvider, formatTime } from '../format.ts';
import { rangeFields } from '../filters.ts';
import { clearErrors, field, formStatus, numberInput, select, showError, textInput } from '../forms.ts';
import type { View } from '../router.ts';
import { errorRegion, loadInto, filterForm, pageHeading, pager, section, table } from './shared.ts';

type AuditQuery = NonNullable<GetAuditLogData['query']>;

const ms = (n: number | undefined) => (n === undefined ? UNKNOWN : `${n < 10 ? n.toFixed(2) : formatInt(Math.round(n))} ms`);
const pairs = (entries: [string, string][]) => h('dl', { class: 'pairs' }, ...entries.map(([term, value]) => h('div', {}, h('dt', {}, term), h('dd', {}, value))));
/** A stored body as text: JSON indented, anything else as it was stored. Never parsed as HTML. */
const bodyText = (b: unknown) => (b === null || b === undefined ? 'not stored' : typeof b === 'string' ? b : JSON.stringify(b, null, 2));

export const auditView: View = {
  title: 'Audit log',
  mount(root, signal) {
    const range = rangeFields(1);
    const model = textInput('requested_model');
    const provider = textInput('provider');
    const status = numberInput('status_code', { min: 100, max: 599 });
    const path = textInput('path', { placeholder: '/v1/chat/completions' });
    const userPath = textInput('user_path', { placeholder: '/team' });
    const search = h('input', { type: 'search', name: 'search', autocomplete: 'off' });
    const limit = select('limit', [['25', '25'], ['50', '50'], ['100', '100']], '25');
    const formState = formStatus();
    const form = filterForm(
      range.element,
      [
        field('Model', model, { hint: 'As the client asked for it.' }),
        field('Provider', provider, { hint: 'Type or configured name.' }),
        field('Status', status),
        field('Path', path),
        field('User path', userPath, { hint: 'Includes everything below it.' }),
        field('Search', search, { hint: 'Request id, model, provider, path, session or error.' }),
        field('Rows per page', limit),
      ],
      formState,
      () => {
        pages.reset();
        void load();
      },
    );
    const errors = errorRegion();
    const statusPlot = h('div', { class: 'chart', id: 'audit-status-chart' });
    const latencyPlot = h('div', { class: 'chart', id: 'audit-latency-chart' });
    const summary = h('p', { class: 'chart-caption', id: 'audit-summary' });
    const statusChart = createStatusChart(statusPlot);
    let latencyChart: { destroy(): void } | null = null;
    signal.addEventListener('abort', () => {
      statusChart.destroy();
      latencyChart?.destroy();
    });
    const results = h('div', { class: 'log-results' });
    const pages = pager('audit-page-info', () => Number(limit.value), async (offset) => {
      const page = await call(getAuditLog({ query: { ...query(), offset }, signal }));
      const entries = page.entries ?? [];
      results.replaceChildren(auditTable(entries));
      return { shown: entries.length, total: page.total ?? 0 };
    });

    root.append(
      pageHeading('Audit log'),
      errors.element,
      section('Filters', form),
      section(
        'Status and latency',
        h('figure', { 'aria-labelledby': 'audit-summary' }, statusPlot, h('figcaption', {}, summary)),
        h('figure', { 'aria-label': 'Median and 95th percentile duration of successful requests by provider' }, latencyPlot),
      ),
      section('Requests', results, pages.element),
    );

    function query(): AuditQuery {
      const q: AuditQuery = { ...range.read(), limit: Number(limit.value) };
      for (const [key, input] of [['requested_model', model], ['provider', provider], ['path', path], ['user_path', userPath], ['search', search]] as const) {
        if (input.value.trim()) q[key] = input.value.trim();
      }
      if (status.value !== '') q.status_code = Number(status.value);
      return q;
    }

    async function load(): Promise<void> {
      clearErrors(form, formState);
      try {
        await pages.load();
      } catch (err) {
        if (!signal.aborted) showError(form, formState, err);
      }
      await loadInto(signal, errors, async () => {
        const stats = await call(getAuditStats({ query: range.read(), signal }));
        statusChart.update(stats);
        latencyChart?.destroy();
        latencyChart = createLatencyChart(latencyPlot, stats);
        const s = stats.summary ?? {};
        summary.textContent = `${formatInt(s.requests)} requests per ${stats.interval ?? 'hour'}: ${formatPercent(s.success_rate)} successful, mean duration ${ms(s.avg_duration_ms)}.`;
      });
    }

    void load();
  },
};

function auditTable(entries: AdminAuditLogEntryResponse[]): HTMLElement {
  return table(
    'Audit log',
    [{ label: 'Time' }, { label: 'Status', numeric: true }, { label: 'Request' }, { label: 'Model' }, { label: 'Provider' }, { label: 'Duration', numeric: true }, { label: 'Session' }],
    entries.map((entry) => {
      const open = h('button', { type: 'button', class: 'link', onclick: () => void showAuditEntry(entry.id!) }, formatTime(entry.timestamp));
      const tr = h(
        'tr',
        { class: 'clickable' },
        h('td', {}, open),
        h('td', { class: 'num' }, String(entry.status_code ?? UNKNOWN)),
        h('td', {}, `${entry.method ?? ''} ${entry.path ?? ''}${entry.stream ? ' (stream)' : ''}`),
        h('td', {}, entry.requested_model ?? UNKNOWN),
        h('td', {}, entry.provider_name ? formatProvider(entry.provider ?? undefined, entry.provider_name) : UNKNOWN),
        h('td', { class: 'num' }, ms(entry.duration_ms)),
        h('td', {}, entry.session_id ?? ''),
      );
      tr.addEventListener('click', (event) => {
        if (event.target !== open) void showAuditEntry(entry.id!);
      });
      return tr;
    }),
    'No requests match these filters.',
  );
}

/** One entry's details with its bodies, then the conversation it belongs to, loaded into the open dialog. */
async function showAuditEntry(id: string): Promise<void> {
  let e: AdminAuditLogEntryResponse;
  try {
    e = await call(getAuditLogDetail({ query: { log_id: id } }));
  } catch (err) {
    showModal('Audit entry', [h('p', { role: 'alert' }, describeError(err))]);
    return;
  }
  const d = e.data ?? {};
  const thread = h('div', { class: 'audit-thread', 'aria-live': 'polite' }, 'Loading…');
  const attempts = d.attempts ?? [];
  showModal(`${e.method ?? ''} ${e.path ?? ''} · ${formatTime(e.timestamp)}`, [
    h('h3', {}, 'Request'),
    pairs([
      ['Request id', e.request_id ?? UNKNOWN],
      ['Status', `${e.status_code ?? UNKNOWN}${e.error_type ? ` (${e.error_type})` : ''}`],
      ['Error', d.error_message ?? 'none'],
      ['Duration', ms(e.duration_ms)],
      ['Model asked for', e.requested_model ?? UNKNOWN],
      ['Model that answered', e.resolved_model ?? UNKNOWN],
      ['Provider', e.provider_name ? formatProvider(e.provider ?? undefined, e.provider_name) : UNKNOWN],
      ['Auth', `${e.auth_method ?? UNKNOWN}${e.auth_key_id ? ` (key ${e.auth_key_id})` : ''}`],
      ['Client IP', e.client_ip ?? UNKNOWN],
      ['User path', e.user_path ?? UNKNOWN],
      ['Session', e.session_id ?? 'none'],
      ['Labels', (d.labels ?? []).join(', ') || 'none'],
      ['Tokens', e.usage ? `${formatInt(e.usage.input_tokens)} in, ${formatInt(e.usage.output_tokens)} out` : 'no usage row'],
    ]),
    ...(attempts.length ? [h('h3', {}, 'Attempts'), h('ol', {}, ...attempts.map((a) => h('li', {}, `${a.provider_name ?? UNKNOWN}/${a.model ?? UNKNOWN}: ${a.status_code ?? UNKNOWN}${a.error_message ? ` ${a.error_message}` : ''}`)))] : []),
    h('h3', {}, `Request body${d.request_body_too_big_to_handle ? ' (cut short)' : ''}`),
    h('pre', { class: 'raw', tabindex: 0, 'aria-label': 'Request body', id: 'audit-request-body' }, bodyText(d.request_body)),
    h('h3', {}, `Response body${d.response_body_too_big_to_handle ? ' (cut short)' : ''}`),
    h('pre', { class: 'raw', tabindex: 0, 'aria-label': 'Response body', id: 'audit-response-body' }, bodyText(d.response_body)),
    h('h3', {}, 'Conversation'),
    thread,
  ]);
  try {
    const conv = await call(getAuditConversation({ query: { log_id: id } }));
    const entries = conv.entries ?? [];
    thread.replaceChildren(
      h(
        'ol',
        { class: 'thread' },
        ...entries.map((t) =>
          h(
            'li',
            t.id === id ? { 'aria-current': 'true' } : {},
            h('p', {}, `${formatTime(t.timestamp)} · ${t.requested_model ?? UNKNOWN} · ${t.status_code ?? UNKNOWN}`),
            h('pre', { class: 'raw' }, bodyText(t.data?.response_body)),
          ),
        ),
      ),
      ...(conv.truncated ? [h('p', {}, 'Only the nearest entries of this session are shown.')] : []),
    );
  } catch (err) {
    thread.textContent = describeError(err);
  }
}
