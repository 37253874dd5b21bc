import { getUsageSummary } from '../generated/sdk.gen.ts';
import { ApiError, call, describeError } from './api.ts';
import { h } from './dom.ts';
import { forgetKey, storeKey, storedKey } from './session.ts';

/**
 * The sign-in prompt, shown when the gateway answers 401. The key is checked with one cheap call
 * before the dashboard uses it.
 */
export function createSignIn(onSignedIn: () => void): { open(): void } {
  const key = h('input', { type: 'password', id: 'master-key', name: 'key', autocomplete: 'current-password', required: true, 'aria-describedby': 'sign-in-help sign-in-error' });
  const error = h('p', { id: 'sign-in-error', class: 'field-error', role: 'alert' });
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    { onsubmit: (event: SubmitEvent) => void signIn(event) },
    h('h2', { id: 'sign-in-title' }, 'Sign in'),
    h('p', { id: 'sign-in-help' }, 'Enter the gateway’s master key (GOMODEL_MASTER_KEY), or an API key with dashboard access. It is kept in this browser tab only, and forgotten when the tab closes.'),
    h('div', { class: 'field' }, h('label', { for: 'master-key' }, 'Master key'), key, error),
    h('div', { class: 'actions' }, submit),
  );
  const dialog = h('dialog', { class: 'sign-in', 'aria-labelledby': 'sign-in-title' }, form);
  // Nothing on the page works without a key, so the prompt cannot be dismissed with Escape.
  dialog.addEventListener('cancel', (event) => event.preventDefault());
  document.body.append(dialog);

  async function signIn(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    storeKey(key.value.trim());
    try {
      await call(getUsageSummary({ query: { days: 1 } }));
      dialog.close();
      key.value = '';
      onSignedIn();
    } catch (err) {
      forgetKey();
      error.textContent = err instanceof ApiError && err.status === 401 ? 'The gateway refused this key.' : describeError(err);
      key.focus();
    } finally {
      submit.disabled = false;
    }
  }

  return {
    open() {
      if (storedKey() === null && !dialog.open) {
        dialog.showModal();
        key.focus();
      }
    },
  };
}
