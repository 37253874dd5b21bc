import { deleteBudget, listBudgets, resetAllBudgets, resetBudget } from '../../generated/sdk.gen.ts';
import type { AdminBudgetKeyRequest, AdminBudgetListResponse, AdminBudgetStatusResponse } from '../../generated/types.gen.ts';
import { call } from '../api.ts';
import { confirmAction } from '../dialogs.ts';
import { h } from '../dom.ts';
import { formatPercent, formatTime, formatUsd } from '../format.ts';
import { formStatus } from '../forms.ts';
import type { View } from '../router.ts';
import { budgetForm, namedPeriods } from './budget-form.ts';
import { budgetSettingsForm } from './budget-settings.ts';
import { rateLimitsSection } from './rate-limits.ts';
import { errorRegion, loadInto, pageHeading, section } from './shared.ts';

/** The key that names a budget in PUT, DELETE and reset-one bodies. */
function budgetKey(b: AdminBudgetStatusResponse): AdminBudgetKeyRequest {
  return namedPeriods.includes(b.period_label ?? '') ? { period: b.period_label } : { period_seconds: b.period_seconds };
}

export const budgetsView: View = {
  title: 'Budgets',
  mount(root, signal) {
    const errors = errorRegion();
    const list = h('div', { class: 'budgets', id: 'budget-list' });
    const notice = formStatus();
    const serverTime = h('p', { class: 'hint' });
    const form = budgetForm(signal, show);
    const resetAll = h('button', { type: 'button', class: 'danger', onclick: () => void confirmResetAll() }, 'Reset all budgets');

    root.append(
      pageHeading('Budgets'),
      errors.element,
      section('Budgets', h('div', { class: 'toolbar' }, serverTime, resetAll), notice, list),
      section('Add or change a budget', form.element),
      section('Rate limits', ...rateLimitsSection(signal)),
      section('Reset anchors', budgetSettingsForm(signal, () => void reload())),
    );

    function show(result: AdminBudgetListResponse, done = ''): void {
      notice.textContent = done;
      const budgets = result.budgets ?? [];
      serverTime.textContent = result.server_time ? `Status as of ${formatTime(result.server_time)}.` : '';
      resetAll.disabled = budgets.length === 0;
      list.replaceChildren(...(budgets.length ? budgets.map(card) : [h('p', { class: 'empty' }, 'No budgets yet. Add one below.')]));
    }

    const act = (action: () => Promise<void>) => loadInto(signal, errors, action);
    const reload = () => act(async () => show(await call(listBudgets({ signal }))));

    async function confirmResetAll(): Promise<void> {
      if (!(await confirmAction('Reset every budget?', 'Every budget starts a new period now, and its spend restarts from zero.', 'Reset all'))) return;
      await act(async () => {
        await call(resetAllBudgets({ body: { confirmation: 'reset' }, signal }));
        show(await call(listBudgets({ signal })), 'Every budget started a new period.');
      });
    }

    function card(b: AdminBudgetStatusResponse): HTMLElement {
      const name = `${b.user_path} · ${b.period_label}`;
      const usage = b.usage_ratio ?? 0;
      const elapsed = b.period_ratio ?? 0;
      const state = usage >= 1 ? 'over' : usage > elapsed ? 'ahead' : '';
      return h(
        'article',
        { class: 'budget', 'aria-label': `Budget ${name}` },
        h('header', {}, h('h3', {}, b.user_path ?? '/'), h('span', { class: 'tag' }, b.period_label ?? ''), h('span', { class: 'tag muted' }, b.source ?? '')),
        h(
          'dl',
          { class: 'figures' },
          h('div', {}, h('dt', {}, 'Spent'), h('dd', {}, formatUsd(b.spent))),
          h('div', {}, h('dt', {}, 'Amount'), h('dd', {}, formatUsd(b.amount))),
          h('div', {}, h('dt', {}, 'Remaining'), h('dd', { class: (b.remaining ?? 0) < 0 ? 'negative' : null }, formatUsd(b.remaining))),
          b.reserved ? h('div', {}, h('dt', {}, 'In flight'), h('dd', {}, formatUsd(b.reserved))) : null,
        ),
        bar('Budget used', usage, `${formatPercent(usage)} of the amount`, state),
        bar('Period elapsed', elapsed, formatPercent(elapsed), ''),
        h('p', { class: 'period' }, `${formatTime(b.period_start)} → ${formatTime(b.period_end)}`),
        b.last_reset_at ? h('p', { class: 'hint' }, `Reset by hand at ${formatTime(b.last_reset_at)}`) : null,
        h(
          'div',
          { class: 'actions' },
          h('button', { type: 'button', class: 'quiet', onclick: () => form.edit(b), 'aria-label': `Edit ${name}` }, 'Edit'),
          h('button', { type: 'button', class: 'quiet', onclick: () => void confirmReset(b, name), 'aria-label': `Reset ${name}` }, 'Reset period'),
          h('button', { type: 'button', class: 'danger', onclick: () => void confirmDelete(b, name), 'aria-label': `Delete ${name}` }, 'Delete'),
        ),
      );
    }

    async function confirmReset(b: AdminBudgetStatusResponse, name: string): Promise<void> {
      if (!(await confirmAction(`Reset ${name}?`, 'A new period starts now: spend restarts from zero until the natural end of the period.', 'Reset period'))) return;
      await act(async () => show(await call(resetBudget({ body: { user_path: b.user_path, ...budgetKey(b) }, signal })), `${name} started a new period.`));
    }

    async function confirmDelete(b: AdminBudgetStatusResponse, name: string): Promise<void> {
      if (!(await confirmAction(`Delete ${name}?`, 'Requests under this path are no longer held to it.', 'Delete'))) return;
      await act(async () => show(await call(deleteBudget({ body: { user_path: b.user_path, budget_key: budgetKey(b) }, signal })), `Deleted ${name}.`));
    }

    void reload();
  },
};

/** A horizontal bar for a ratio (clamped to the bar; the text says the real value). */
function bar(label: string, ratio: number, text: string, state: string): HTMLElement {
  const fill = h('span', { class: 'bar-fill' });
  fill.style.width = `${Math.min(1, Math.max(0, ratio)) * 100}%`;
  return h(
    'div',
    { class: 'bar-row' },
    h('span', { class: 'bar-label', 'aria-hidden': 'true' }, label),
    h('div', { class: `bar ${state}`, role: 'meter', 'aria-label': label, 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(Math.max(0, ratio) * 100), 'aria-valuetext': text }, fill),
    h('span', { class: 'bar-value', 'aria-hidden': 'true' }, text),
  );
}
