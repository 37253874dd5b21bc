import { ApiError, describeError } from './api.ts';
import { h, uid } from './dom.ts';

/**
 * A labelled form control with a place for its error. `params` are the API parameter names the
 * server may give in an error's `param` for this control (its `name` always counts).
 */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement, opts: { hint?: string; params?: string[] } = {}): HTMLDivElement {
  control.id ||= uid('field');
  const error = h('p', { class: 'field-error', id: `${control.id}-error` });
  const hint = opts.hint ? h('p', { class: 'hint', id: `${control.id}-hint` }, opts.hint) : null;
  control.setAttribute('aria-describedby', [hint?.id, error.id].filter(Boolean).join(' '));
  if (opts.params) control.dataset.params = opts.params.join(' ');
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hint, error);
}

/** A form-level message region, announced when it changes. */
export const formStatus = () => h('p', { class: 'form-status', role: 'status', 'aria-live': 'polite' });

export function clearErrors(form: HTMLFormElement, status: HTMLElement): void {
  for (const control of form.querySelectorAll('[aria-invalid]')) control.removeAttribute('aria-invalid');
  for (const error of form.querySelectorAll('.field-error')) error.textContent = '';
  status.textContent = '';
  status.classList.remove('error');
}

/** Shows an API error next to the control its `param` names, or in `status` when none does. */
export function showError(form: HTMLFormElement, status: HTMLElement, err: unknown): void {
  const param = err instanceof ApiError ? err.body.param : null;
  const control = param ? controlFor(form, param) : null;
  if (control) {
    control.setAttribute('aria-invalid', 'true');
    form.querySelector(`#${CSS.escape(control.id)}-error`)!.textContent = describeError(err);
    control.focus();
    return;
  }
  status.textContent = describeError(err);
  status.classList.add('error');
}

function controlFor(form: HTMLFormElement, param: string): HTMLElement | null {
  for (const control of form.querySelectorAll<HTMLInputElement | HTMLSelectElement>('input, select')) {
    if (control.name === param || control.dataset.params?.split(' ').includes(param)) return control;
  }
  return null;
}

export const numberInput = (name: string, attrs: Record<string, string | number> = {}) =>
  h('input', { type: 'number', name, inputmode: 'decimal', ...attrs });

export const textInput = (name: string, attrs: Record<string, string> = {}) => h('input', { type: 'text', name, autocomplete: 'off', ...attrs });

export function select(name: string, options: [value: string, label: string][], selected?: string): HTMLSelectElement {
  return h('select', { name }, ...options.map(([value, label]) => h('option', { value, selected: value === selected }, label)));
}

/** A row of radio buttons styled as a segmented switch; arrow keys move between them. */
export function segmented(legend: string, name: string, options: [value: string, label: string][], selected: string, onChange: (value: string) => void): HTMLFieldSetElement {
  return h(
    'fieldset',
    { class: 'segmented' },
    h('legend', {}, legend),
    ...options.map(([value, label]) =>
      h('label', {}, h('input', { type: 'radio', name, value, checked: value === selected, onchange: () => onChange(value) }), h('span', {}, label)),
    ),
  );
}
