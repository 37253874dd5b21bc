import { getUsageLog } from '../../generated/sdk.gen.ts';
import type { GetUsageLogData, UsageUsageLogEntry } from '../../generated/types.gen.ts';
import { call } from '../api.ts';
import { h } from '../dom.ts';
import { formatInt, formatProvider, formatTime, formatUsd } from '../format.ts';
import { cacheModeField, keyField, rangeFields } from '../filters.ts';
import { clearErrors, field, formStatus, select, showError, textInput } from '../forms.ts';
import type { View } from '../router.ts';
import { showLogEntry } from './log-entry.ts';
import { filterForm, pageHeading, pager, section, table } from './shared.ts';

type LogQuery = NonNullable<GetUsageLogData['query']>;

export const logView: View = {
  title: 'Usage log',
  mount(root, signal) {
    const range = rangeFields();
    const model = textInput('model');
    const provider = textInput('provider');
    const userPath = textInput('user_path', { placeholder: '/team' });
    const cacheMode = cacheModeField();
    const key = keyField(signal);
    const search = h('input', { type: 'search', name: 'search', autocomplete: 'off' });
    const limit = select('limit', [['25', '25'], ['50', '50'], ['100', '100'], ['200', '200']], '50');
    const status = formStatus();
    const form = filterForm(
      range.element,
      [
        field('Model', model),
        field('Provider', provider, { hint: 'Type or configured name.' }),
        field('User path', userPath, { hint: 'Includes everything below it.' }),
        key.element,
        cacheMode.element,
        field('Search', search, { hint: 'Model, provider, request or provider id.' }),
        field('Rows per page', limit),
      ],
      status,
      () => {
        pages.reset();
        void load();
      },
    );
    const results = h('div', { class: 'log-results' });
    const pages = pager('log-page-info', () => Number(limit.value), async (offset) => {
      const page = await call(getUsageLog({ query: { ...query(), offset }, signal }));
      const entries = page.entries ?? [];
      results.replaceChildren(logTable(entries));
      return { shown: entries.length, total: page.total ?? 0 };
    });

    root.append(pageHeading('Usage log'), section('Filters', form), section('Requests', results, pages.element));

    function query(): LogQuery {
      const q: LogQuery = { ...range.read(), ...key.read(), cache_mode: cacheMode.read(), limit: Number(limit.value) };
      for (const [key, input] of [['model', model], ['provider', provider], ['user_path', userPath], ['search', search]] as const) {
        if (input.value.trim()) q[key] = input.value.trim();
      }
      return q;
    }

    async function load(): Promise<void> {
      clearErrors(form, status);
      try {
        await pages.load();
      } catch (err) {
        if (!signal.aborted) showError(form, status, err);
      }
    }

    void load();
  },
};

function logTable(entries: UsageUsageLogEntry[]): HTMLElement {
  return table(
    'Usage log',
    [
      { label: 'Time' },
      { label: 'Model' },
      { label: 'Provider' },
      { label: 'User path' },
      { label: 'Labels' },
      { label: 'Input', numeric: true },
      { label: 'Output', numeric: true },
      { label: 'Cost', numeric: true },
    ],
    entries.map((entry) => {
      const open = h('button', { type: 'button', class: 'link', onclick: () => showLogEntry(entry) }, formatTime(entry.timestamp));
      const tr = h(
        'tr',
        { class: 'clickable' },
        h('td', {}, open),
        h('td', {}, entry.model ?? ''),
        h('td', {}, formatProvider(entry.provider, entry.provider_name)),
        h('td', {}, entry.user_path ?? ''),
        h('td', {}, (entry.labels ?? []).join(', ')),
        h('td', { class: 'num' }, formatInt(entry.input_tokens)),
        h('td', { class: 'num' }, formatInt(entry.output_tokens)),
        // An unknown cost is absent from the entry: it shows as unknown, not $0.
        h('td', { class: 'num' }, formatUsd(entry.total_cost, 'unknown')),
      );
      // The whole row opens the details for a pointer; the button in it is the keyboard's way in.
      tr.addEventListener('click', (event) => {
        if (event.target !== open) showLogEntry(entry);
      });
      return tr;
    }),
    'No requests match these filters.',
  );
}
