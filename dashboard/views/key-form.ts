import { createAuthKey } from '../../generated/sdk.gen.ts';
import type { AdminCreatedAuthKey } from '../../generated/types.gen.ts';
import { call } from '../api.ts';
import { h } from '../dom.ts';
import { clearErrors, field, formStatus, showError, textInput } from '../forms.ts';

/** Labels as typed: comma-separated, blanks dropped. */
export const parseLabels = (text: string) => text.split(',').map((l) => l.trim()).filter(Boolean);

/** Creates a managed key; validation is the server's, its errors appear by the field. */
export function keyForm(signal: AbortSignal, onCreated: (key: AdminCreatedAuthKey) => void): HTMLFormElement {
  const name = textInput('name', { placeholder: 'alpha-ci' });
  const description = textInput('description');
  const userPath = textInput('user_path', { value: '/', placeholder: '/team/alpha' });
  const labels = textInput('labels', { placeholder: 'ci, alpha' });
  const expires = h('input', { type: 'datetime-local', name: 'expires_at' });
  const dashboard = h('input', { type: 'checkbox', name: 'dashboard_access' });
  const status = formStatus();
  const form = h(
    'form',
    { class: 'budget-form', novalidate: true, 'aria-label': 'New API key', onsubmit: (event: SubmitEvent) => void save(event) },
    field('Name', name),
    field('Description', description),
    field('User path', userPath, { hint: 'Requests with the key are bound to this path; a header may only narrow it.' }),
    field('Labels', labels, { hint: 'Comma-separated; added to every request of the key.' }),
    field('Expires (optional)', expires),
    field('May use the dashboard and admin API', dashboard),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Create key')),
    status,
  );

  async function save(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    clearErrors(form, status);
    try {
      const key = await call(
        createAuthKey({
          body: {
            name: name.value,
            description: description.value,
            user_path: userPath.value.trim() || '/',
            labels: parseLabels(labels.value),
            expires_at: expires.value ? new Date(expires.value).toISOString() : null,
            dashboard_access: dashboard.checked,
          },
          signal,
        }),
      );
      form.reset();
      onCreated(key);
    } catch (err) {
      if (!signal.aborted) showError(form, status, err);
    }
  }

  return form;
}
