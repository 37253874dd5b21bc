import { getLabelUsage, getModelUsage, getUserPathUsage } from '../../generated/sdk.gen.ts';
import type { GetModelUsageData } from '../../generated/types.gen.ts';
import { call } from '../api.ts';
import { h } from '../dom.ts';
import { formatCostTotal, formatInt, formatProvider, formatUsd } from '../format.ts';
import { cacheModeField, keyField, rangeFields } from '../filters.ts';
import { clearErrors, field, formStatus, showError, textInput } from '../forms.ts';
import type { View } from '../router.ts';
import { pageHeading, row, section, table } from './shared.ts';

type BreakdownQuery = NonNullable<GetModelUsageData['query']>;

/** Input, output and total cost; the total says how many requests it leaves out for want of a price, where the API counts them. */
const money = (r: { input_cost?: number | null; output_cost?: number | null; total_cost?: number | null; unknown_cost_requests?: number }) => [
  formatUsd(r.input_cost),
  formatUsd(r.output_cost),
  formatCostTotal(r.total_cost, r.unknown_cost_requests),
];
const columns = (first: { label: string }[]) => [
  ...first,
  { label: 'Requests', numeric: true },
  { label: 'Input tokens', numeric: true },
  { label: 'Output tokens', numeric: true },
  { label: 'Input cost', numeric: true },
  { label: 'Output cost', numeric: true },
  { label: 'Total cost', numeric: true },
];

export const breakdownsView: View = {
  title: 'Breakdowns',
  mount(root, signal) {
    const range = rangeFields();
    const userPath = textInput('user_path', { placeholder: '/team' });
    const cacheMode = cacheModeField();
    const key = keyField(signal);
    const status = formStatus();
    const form = h(
      'form',
      { class: 'filters', novalidate: true, 'aria-label': 'Filters', onsubmit: (event: SubmitEvent) => {
        event.preventDefault();
        void load();
      } },
      range.element,
      h('fieldset', {}, h('legend', {}, 'Match'), field('User path', userPath, { hint: 'Includes everything below it.' }), key.element, cacheMode.element),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Apply')),
      status,
    );
    const labels = h('div');
    const models = h('div');
    const paths = h('div');
    root.append(
      pageHeading('Breakdowns'),
      section('Filters', form),
      section('By label', h('p', { class: 'note' }, 'A request with several labels counts once under each of them, so these rows overlap and do not add up to the totals. Requests without labels are left out.'), labels),
      section('By model', models),
      section('By user path', paths),
    );

    async function load(): Promise<void> {
      clearErrors(form, status);
      const query: BreakdownQuery = { ...range.read(), ...key.read(), cache_mode: cacheMode.read() };
      if (userPath.value.trim()) query.user_path = userPath.value.trim();
      try {
        const [byLabel, byModel, byPath] = await Promise.all([
          call(getLabelUsage({ query, signal })),
          call(getModelUsage({ query, signal })),
          call(getUserPathUsage({ query, signal })),
        ]);
        labels.replaceChildren(table('By label', columns([{ label: 'Label' }]), byLabel.map((r) => row([r.label ?? '', formatInt(r.requests), formatInt(r.input_tokens), formatInt(r.output_tokens), ...money(r)], 1))));
        models.replaceChildren(
          table(
            'By model',
            columns([{ label: 'Model' }, { label: 'Provider' }]),
            byModel.map((r) => row([r.model ?? '', formatProvider(r.provider, r.provider_name), formatInt(r.requests), formatInt(r.input_tokens), formatInt(r.output_tokens), ...money(r)], 2)),
          ),
        );
        paths.replaceChildren(table('By user path', columns([{ label: 'User path' }]), byPath.map((r) => row([r.user_path ?? '', formatInt(r.requests), formatInt(r.input_tokens), formatInt(r.output_tokens), ...money(r)], 1))));
      } catch (err) {
        if (!signal.aborted) showError(form, status, err);
      }
    }

    void load();
  },
};
