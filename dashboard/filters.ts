import { listAuthKeys } from '../generated/sdk.gen.ts';
import type { CacheMode } from '../generated/types.gen.ts';
import { call } from './api.ts';
import { h } from './dom.ts';
import { field, numberInput, select } from './forms.ts';

export interface RangeQuery {
  days?: number;
  start_date?: string;
  end_date?: string;
}

/** The date-range controls every usage query shares: last N days, or from/to dates (which win). */
export function rangeFields(days = 30): { element: HTMLElement; read(): RangeQuery } {
  const daysInput = numberInput('days', { min: 1, max: 365, value: days });
  const start = h('input', { type: 'date', name: 'start_date' });
  const end = h('input', { type: 'date', name: 'end_date' });
  return {
    element: h(
      'fieldset',
      { class: 'range' },
      h('legend', {}, 'Range'),
      field('Last days', daysInput),
      field('From', start),
      field('To', end, { hint: 'Dates win over days.' }),
    ),
    read() {
      if (start.value || end.value) return { ...(start.value ? { start_date: start.value } : {}), ...(end.value ? { end_date: end.value } : {}) };
      return daysInput.value === '' ? {} : { days: Number(daysInput.value) };
    },
  };
}

/** Which requests a usage query counts: provider calls (the API's default), gateway cache hits, or both. */
export function cacheModeField(): { element: HTMLElement; read(): CacheMode } {
  const control = select('cache_mode', [['uncached', 'Provider calls'], ['cached', 'Gateway cache hits'], ['all', 'Both']], 'uncached');
  return { element: field('Requests', control), read: () => control.value as CacheMode };
}

/** Which managed key's requests a usage query counts: any, or one (the list is loaded from the API). */
export function keyField(signal: AbortSignal): { element: HTMLElement; read(): { auth_key_id?: string } } {
  const control = select('auth_key_id', [['', 'Any key']], '');
  void call(listAuthKeys({ signal })).then(
    (keys) => control.append(...keys.map((k) => h('option', { value: k.id }, `${k.name} (${k.redacted_value})`))),
    () => {},
  );
  return { element: field('API key', control), read: () => (control.value ? { auth_key_id: control.value } : {}) };
}
