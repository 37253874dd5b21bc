import { getBudgetSettings, updateBudgetSettings } from '../../generated/sdk.gen.ts';
import type { BudgetSettings, BudgetSettingsWritable } from '../../generated/types.gen.ts';
import { call } from '../api.ts';
import { h } from '../dom.ts';
import { formatTime } from '../format.ts';
import { clearErrors, field, formStatus, numberInput, select, showError } from '../forms.ts';

type Anchor = keyof BudgetSettingsWritable;

const weekdays = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const integer = (name: Anchor, min: number, max: number) => numberInput(name, { min, max, step: 1, inputmode: 'numeric' });

/** When daily, weekly and monthly periods start (UTC); changing them moves every period at once. */
export function budgetSettingsForm(signal: AbortSignal, onSaved: () => void): HTMLElement {
  const controls: Record<Anchor, HTMLInputElement | HTMLSelectElement> = {
    daily_reset_hour: integer('daily_reset_hour', 0, 23),
    daily_reset_minute: integer('daily_reset_minute', 0, 59),
    weekly_reset_weekday: select('weekly_reset_weekday', weekdays.map((day, i): [string, string] => [String(i), day])),
    weekly_reset_hour: integer('weekly_reset_hour', 0, 23),
    weekly_reset_minute: integer('weekly_reset_minute', 0, 59),
    monthly_reset_day: integer('monthly_reset_day', 1, 31),
    monthly_reset_hour: integer('monthly_reset_hour', 0, 23),
    monthly_reset_minute: integer('monthly_reset_minute', 0, 59),
  };
  const updated = h('p', { class: 'hint' });
  const status = formStatus();
  const group = (legend: string, ...fields: HTMLElement[]) => h('fieldset', { class: 'inline' }, h('legend', {}, legend), ...fields);
  const form = h(
    'form',
    { class: 'settings-form', novalidate: true, 'aria-label': 'Reset anchors', onsubmit: (event: SubmitEvent) => void save(event) },
    h('p', { class: 'note' }, 'Times are UTC. A monthly day past the end of a month means its last day.'),
    group('Daily', field('Hour', controls.daily_reset_hour), field('Minute', controls.daily_reset_minute)),
    group('Weekly', field('Weekday', controls.weekly_reset_weekday), field('Hour', controls.weekly_reset_hour), field('Minute', controls.weekly_reset_minute)),
    group('Monthly', field('Day', controls.monthly_reset_day), field('Hour', controls.monthly_reset_hour), field('Minute', controls.monthly_reset_minute)),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Save anchors')),
    status,
    updated,
  );

  function fill(settings: BudgetSettings): void {
    for (const [name, control] of Object.entries(controls) as [Anchor, HTMLInputElement | HTMLSelectElement][]) control.value = String(settings[name] ?? '');
    updated.textContent = settings.updated_at ? `Last changed ${formatTime(settings.updated_at)}.` : '';
  }

  async function save(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    clearErrors(form, status);
    // An empty field is left out: the API changes only the anchors it is given.
    const body = Object.fromEntries(Object.entries(controls).filter(([, control]) => control.value !== '').map(([name, control]) => [name, Number(control.value)])) as BudgetSettingsWritable;
    try {
      fill(await call(updateBudgetSettings({ body, signal })));
      status.textContent = 'Saved. Period bounds have moved.';
      onSaved();
    } catch (err) {
      if (!signal.aborted) showError(form, status, err);
    }
  }

  call(getBudgetSettings({ signal })).then(fill, (err: unknown) => {
    if (!signal.aborted) showError(form, status, err);
  });
  return form;
}
