import { deleteRateLimit, listRateLimits, resetRateLimit, upsertRateLimit } from '../../generated/sdk.gen.ts';
import type { AdminRateLimitListResponse, AdminRateLimitStatusResponse } from '../../generated/types.gen.ts';
import { call } from '../api.ts';
import { confirmAction } from '../dialogs.ts';
import { h } from '../dom.ts';
import { formatInt, formatTime } from '../format.ts';
import { clearErrors, field, formStatus, numberInput, select, showError, textInput } from '../forms.ts';
import { errorRegion, loadInto, row, table } from './shared.ts';

/** Counters are refreshed this often while the page is open. */
const LIVE_MS = 2000;
const namedPeriods = ['minute', 'hour', 'day', 'concurrent'];

const keyOf = (r: AdminRateLimitStatusResponse) => (namedPeriods.includes(r.period_label ?? '') ? { period: r.period_label } : { period_seconds: r.period_seconds });
const subjectOf = (r: AdminRateLimitStatusResponse) => ({ scope: r.scope as 'user_path' | 'auth_key', subject: r.subject });

const used = (n: number | undefined, max: number | null | undefined) => (max == null ? '—' : `${formatInt(n ?? 0)} / ${formatInt(max)}`);

/** The rate limits with their live counters, a form to add one, and reset/delete actions. */
export function rateLimitsSection(signal: AbortSignal): HTMLElement[] {
  const errors = errorRegion();
  const notice = formStatus();
  const list = h('div', { id: 'rate-limit-list' });

  function show(result: AdminRateLimitListResponse, done?: string): void {
    if (done !== undefined) notice.textContent = done;
    list.replaceChildren(
      table(
        'Rate limits with live counters',
        [{ label: 'Applies to' }, { label: 'Period' }, { label: 'Requests', numeric: true }, { label: 'Tokens', numeric: true }, { label: 'Window ends' }, { label: 'Source' }, { label: 'Actions' }],
        (result.rate_limits ?? []).map((r) =>
          row(
            [
              r.scope === 'auth_key' ? `key ${r.subject}` : (r.subject ?? '/'),
              r.period_label ?? '',
              r.period_seconds === 0 ? `${formatInt(r.in_flight ?? 0)} in flight / ${formatInt(r.max_requests)}` : used(r.requests_used, r.max_requests),
              used(r.tokens_used, r.max_tokens),
              r.window_end ? formatTime(r.window_end) : '—',
              r.source ?? '',
              actions(r),
            ],
            2,
          ),
        ),
        'No rate limits.',
      ),
    );
  }

  function actions(r: AdminRateLimitStatusResponse): HTMLElement {
    const name = `${r.scope === 'auth_key' ? `key ${r.subject}` : r.subject} · ${r.period_label}`;
    return h(
      'div',
      { class: 'actions inline' },
      r.period_seconds ? h('button', { type: 'button', class: 'quiet', onclick: () => void reset(r, name), 'aria-label': `Reset ${name}` }, 'Reset') : null,
      h('button', { type: 'button', class: 'danger', onclick: () => void remove(r, name), 'aria-label': `Delete rate limit ${name}` }, 'Delete'),
    );
  }

  const act = (action: () => Promise<void>) => loadInto(signal, errors, action);
  const reload = () => act(async () => show(await call(listRateLimits({ signal }))));

  async function reset(r: AdminRateLimitStatusResponse, name: string): Promise<void> {
    if (!(await confirmAction(`Reset ${name}?`, 'A new window starts now: used requests and tokens restart from zero.', 'Reset'))) return;
    await act(async () => show(await call(resetRateLimit({ body: { ...subjectOf(r), ...keyOf(r) }, signal })), `${name} started a new window.`));
  }

  async function remove(r: AdminRateLimitStatusResponse, name: string): Promise<void> {
    if (!(await confirmAction(`Delete ${name}?`, 'Requests are no longer held to this limit.', 'Delete'))) return;
    await act(async () => show(await call(deleteRateLimit({ body: { ...subjectOf(r), limit_key: keyOf(r) }, signal })), `Deleted ${name}.`));
  }

  const userPath = textInput('user_path', { value: '/', placeholder: '/team/alpha' });
  const period = select('period', namedPeriods.map((p): [string, string] => [p, p[0]!.toUpperCase() + p.slice(1)]), 'minute');
  const maxRequests = numberInput('max_requests', { min: 1, step: 1, inputmode: 'numeric' });
  const maxTokens = numberInput('max_tokens', { min: 1, step: 1, inputmode: 'numeric' });
  const status = formStatus();
  const form: HTMLFormElement = h(
    'form',
    {
      class: 'budget-form',
      novalidate: true,
      'aria-label': 'Rate limit',
      onsubmit: async (event: SubmitEvent) => {
        event.preventDefault();
        clearErrors(form, status);
        const n = (input: HTMLInputElement) => (input.value ? Number(input.value) : null);
        try {
          const result = await call(
            upsertRateLimit({ body: { user_path: userPath.value.trim() || '/', limit_key: { period: period.value }, max_requests: n(maxRequests), max_tokens: n(maxTokens) }, signal }),
          );
          status.textContent = `Saved ${userPath.value.trim() || '/'} · ${period.value}.`;
          show(result);
        } catch (err) {
          if (!signal.aborted) showError(form, status, err);
        }
      },
    },
    field('User path', userPath, { hint: 'The limit covers this path and everything below it, across all gateway processes.' }),
    field('Period', period, { params: ['limit_key', 'limit_key.period'] }),
    field('Max requests', maxRequests, { hint: 'Per period; for concurrent, requests in flight.' }),
    field('Max tokens', maxTokens, { hint: 'Per period, counted as requests complete.' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Save rate limit')),
    status,
  );

  void reload();
  const timer = setInterval(() => void call(listRateLimits({ signal })).then((r) => show(r), () => {}), LIVE_MS);
  signal.addEventListener('abort', () => clearInterval(timer));
  return [errors.element, notice, list, h('h3', {}, 'Add or change a rate limit'), form];
}
