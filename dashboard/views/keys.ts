import { deactivateAuthKey, deleteAuthKey, listAuthKeys, rotateAuthKey, updateAuthKeyLabels } from '../../generated/sdk.gen.ts';
import type { AdminAuthKey, AdminCreatedAuthKey } from '../../generated/types.gen.ts';
import { call } from '../api.ts';
import { confirmAction, showModal } from '../dialogs.ts';
import { h } from '../dom.ts';
import { formatTime } from '../format.ts';
import { clearErrors, field, formStatus, showError, textInput } from '../forms.ts';
import type { View } from '../router.ts';
import { keyForm, parseLabels } from './key-form.ts';
import { errorRegion, loadInto, pageHeading, row, section, table } from './shared.ts';

/** How long a rotated key's old secret keeps working (the API's default). */
const GRACE = 'one hour';

function state(k: AdminAuthKey): string {
  if (!k.enabled) return 'deactivated';
  if (!k.active) return 'expired';
  return k.previous_value_expires_at ? `active (old secret valid until ${formatTime(k.previous_value_expires_at)})` : 'active';
}

/** Shows a new secret once, with a copy button: it cannot be shown again. */
function showSecret(title: string, key: AdminCreatedAuthKey): void {
  const value = h('input', { type: 'text', readonly: true, value: key.value, class: 'secret', 'aria-label': 'Secret' });
  const copied = h('p', { role: 'status', 'aria-live': 'polite', class: 'hint' });
  const copy = h(
    'button',
    {
      type: 'button',
      onclick: () =>
        void navigator.clipboard.writeText(key.value).then(
          () => (copied.textContent = 'Copied.'),
          () => {
            value.select();
            copied.textContent = 'Select the secret and copy it by hand.';
          },
        ),
    },
    'Copy',
  );
  showModal(title, [
    h('p', {}, `This is the secret of “${key.name}”. Copy it now: the gateway keeps only its digest and will never show it again.`),
    h('div', { class: 'secret-row' }, value, copy),
    copied,
  ]);
  value.select();
}

export const keysView: View = {
  title: 'API keys',
  mount(root, signal) {
    const errors = errorRegion();
    const list = h('div', { id: 'key-list' });
    const notice = formStatus();
    root.append(
      pageHeading('API keys'),
      errors.element,
      section('Keys', notice, list),
      section(
        'Create a key',
        keyForm(signal, (key) => {
          showSecret(`Key “${key.name}” created`, key);
          void reload(`Created ${key.name}.`);
        }),
      ),
    );

    const act = (action: () => Promise<void>) => loadInto(signal, errors, action);
    const reload = (done = '') =>
      act(async () => {
        const keys = await call(listAuthKeys({ signal }));
        notice.textContent = done;
        list.replaceChildren(
          table(
            'API keys',
            [{ label: 'Name' }, { label: 'Secret' }, { label: 'User path' }, { label: 'Labels' }, { label: 'State' }, { label: 'Expires' }, { label: 'Last used' }, { label: 'Actions' }],
            keys.map((k) =>
              row([
                k.name + (k.dashboard_access ? ' (admin)' : ''),
                k.redacted_value,
                k.user_path,
                k.labels.join(', ') || '—',
                state(k),
                k.expires_at ? formatTime(k.expires_at) : 'never',
                k.last_used_at ? formatTime(k.last_used_at) : 'never',
                actions(k),
              ]),
            ),
            'No keys yet: only the master key can call the gateway. Create one below.',
          ),
        );
      });

    function actions(k: AdminAuthKey): HTMLElement {
      const name = `key ${k.name}`;
      return h(
        'div',
        { class: 'actions inline' },
        h('button', { type: 'button', class: 'quiet', onclick: () => editLabels(k), 'aria-label': `Labels of ${name}` }, 'Labels'),
        k.enabled ? h('button', { type: 'button', class: 'quiet', onclick: () => void rotate(k), 'aria-label': `Rotate ${name}` }, 'Rotate') : null,
        k.enabled ? h('button', { type: 'button', class: 'quiet', onclick: () => void deactivate(k), 'aria-label': `Deactivate ${name}` }, 'Deactivate') : null,
        h('button', { type: 'button', class: 'danger', onclick: () => void remove(k), 'aria-label': `Delete ${name}` }, 'Delete'),
      );
    }

    function editLabels(k: AdminAuthKey): void {
      const input = textInput('labels', { value: k.labels.join(', ') });
      const status = formStatus();
      const form: HTMLFormElement = h(
        'form',
        {
          'aria-label': `Labels of ${k.name}`,
          onsubmit: async (event: SubmitEvent) => {
            event.preventDefault();
            clearErrors(form, status);
            try {
              await call(updateAuthKeyLabels({ path: { id: k.id }, body: { labels: parseLabels(input.value) }, signal }));
              form.closest('dialog')?.close();
              await reload(`Labels of ${k.name} saved.`);
            } catch (err) {
              if (!signal.aborted) showError(form, status, err);
            }
          },
        },
        field('Labels', input, { hint: 'Comma-separated; empty clears them.' }),
        h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Save labels')),
        status,
      );
      showModal(`Labels of ${k.name}`, [form]);
      input.focus();
    }

    async function rotate(k: AdminAuthKey): Promise<void> {
      if (!(await confirmAction(`Rotate ${k.name}?`, `A new secret is issued now. The current one keeps working for ${GRACE}, so clients can move over.`, 'Rotate'))) return;
      await act(async () => {
        const rotated = await call(rotateAuthKey({ path: { id: k.id }, body: {}, signal }));
        showSecret(`New secret for “${k.name}”`, rotated);
        await reload(`Rotated ${k.name}.`);
      });
    }

    async function deactivate(k: AdminAuthKey): Promise<void> {
      if (!(await confirmAction(`Deactivate ${k.name}?`, 'Requests with this key are refused from now on, on every gateway process.', 'Deactivate'))) return;
      await act(async () => {
        await call(deactivateAuthKey({ path: { id: k.id }, signal }));
        await reload(`Deactivated ${k.name}.`);
      });
    }

    async function remove(k: AdminAuthKey): Promise<void> {
      if (!(await confirmAction(`Delete ${k.name}?`, 'The key is removed; its usage stays recorded under its id.', 'Delete'))) return;
      await act(async () => {
        await call(deleteAuthKey({ path: { id: k.id }, signal }));
        await reload(`Deleted ${k.name}.`);
      });
    }

    void reload();
  },
};
