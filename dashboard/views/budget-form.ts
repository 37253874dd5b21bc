import { upsertBudget } from '../../generated/sdk.gen.ts';
import type { AdminBudgetListResponse, AdminBudgetStatusResponse } from '../../generated/types.gen.ts';
import { call } from '../api.ts';
import { h } from '../dom.ts';
import { clearErrors, field, formStatus, numberInput, select, showError, textInput } from '../forms.ts';

export const namedPeriods = ['hourly', 'daily', 'weekly', 'monthly'];

/**
 * Creates a budget, or changes the amount of the one being edited (its path and period are its
 * key, so they are fixed while editing). Validation is the server's: its errors appear by the field.
 */
export function budgetForm(signal: AbortSignal, onSaved: (list: AdminBudgetListResponse) => void): { element: HTMLElement; edit(b: AdminBudgetStatusResponse): void } {
  const userPath = textInput('user_path', { value: '/', placeholder: '/team/alpha' });
  const period = select('period', [...namedPeriods.map((p): [string, string] => [p, p[0]!.toUpperCase() + p.slice(1)]), ['custom', 'Custom (seconds)']], 'daily');
  const seconds = numberInput('period_seconds', { min: 1, step: 1, inputmode: 'numeric' });
  const amount = numberInput('amount', { step: 'any', placeholder: '10.00' });
  const secondsField = field('Period in seconds', seconds, { params: ['budget_key.period_seconds'] });
  const editing = h('p', { class: 'editing', hidden: true });
  const submit = h('button', { type: 'submit' }, 'Add budget');
  const cancel = h('button', { type: 'button', class: 'quiet', hidden: true, onclick: () => reset() }, 'Cancel');
  const status = formStatus();
  const form = h(
    'form',
    { class: 'budget-form', novalidate: true, 'aria-label': 'Budget', onsubmit: (event: SubmitEvent) => void save(event) },
    editing,
    field('User path', userPath, { hint: 'The budget covers this path and everything below it.' }),
    field('Period', period, { params: ['budget_key', 'budget_key.period'] }),
    secondsField,
    field('Amount (USD per period)', amount),
    h('div', { class: 'actions' }, submit, cancel),
    status,
  );
  const showSeconds = () => (secondsField.hidden = period.value !== 'custom');
  period.addEventListener('change', showSeconds);
  showSeconds();

  function reset(): void {
    form.reset();
    userPath.readOnly = false;
    period.disabled = false;
    editing.hidden = cancel.hidden = true;
    submit.textContent = 'Add budget';
    showSeconds();
    clearErrors(form, status);
  }

  async function save(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    clearErrors(form, status);
    const budget_key = period.value === 'custom' ? { period_seconds: Number(seconds.value) } : { period: period.value };
    try {
      const list = await call(upsertBudget({ body: { user_path: userPath.value.trim() || '/', budget_key, amount: Number(amount.value) }, signal }));
      const saved = `Saved ${userPath.value.trim() || '/'} · ${period.value === 'custom' ? `${seconds.value}s` : period.value}.`;
      reset();
      status.textContent = saved;
      onSaved(list);
    } catch (err) {
      if (!signal.aborted) showError(form, status, err);
    }
  }

  return {
    element: form,
    edit(b) {
      reset();
      const named = namedPeriods.includes(b.period_label ?? '');
      userPath.value = b.user_path ?? '/';
      period.value = named ? b.period_label! : 'custom';
      seconds.value = String(b.period_seconds ?? '');
      amount.value = String(b.amount ?? '');
      userPath.readOnly = true;
      period.disabled = true;
      editing.textContent = `Editing ${b.user_path} · ${b.period_label}: change its amount.`;
      editing.hidden = cancel.hidden = false;
      submit.textContent = 'Save amount';
      showSeconds();
      amount.focus();
      amount.select();
    },
  };
}
