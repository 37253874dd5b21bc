import { describeError } from '../api.ts';
import { h, uid, type Child } from '../dom.ts';
import { formatInt } from '../format.ts';

/** A page's heading, focusable so that navigation can move focus to it. */
export const pageHeading = (text: string) => h('h1', { tabindex: -1 }, text);

/** A titled section of a page. */
export function section(title: string, ...children: (Child | Child[])[]): HTMLElement {
  const id = uid('section');
  return h('section', { class: 'panel', 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

/** Where a page reports a failed load; announced to screen readers. */
export function errorRegion(): { element: HTMLElement; show(err: unknown): void; clear(): void } {
  const element = h('p', { class: 'error-banner', role: 'alert', hidden: true });
  return {
    element,
    show(err) {
      element.textContent = describeError(err);
      element.hidden = false;
    },
    clear() {
      element.textContent = '';
      element.hidden = true;
    },
  };
}

/**
 * A table in a keyboard-scrollable region (narrow screens scroll it sideways). `numeric` columns
 * are right-aligned.
 */
export function table(caption: string, columns: { label: string; numeric?: boolean }[], rows: HTMLTableRowElement[], empty = 'Nothing in this range.'): HTMLElement {
  const body = rows.length ? rows : [h('tr', {}, h('td', { colspan: columns.length, class: 'empty' }, empty))];
  return h(
    'div',
    { class: 'table-wrap', role: 'region', tabindex: 0, 'aria-label': caption },
    h(
      'table',
      {},
      h('caption', { class: 'sr-only' }, caption),
      h('thead', {}, h('tr', {}, ...columns.map((c) => h('th', { scope: 'col', class: c.numeric ? 'num' : null }, c.label)))),
      h('tbody', {}, ...body),
    ),
  );
}

/** A table row of cells; numbers are right-aligned. */
export const row = (cells: (string | number | Node)[], numericFrom = Infinity) =>
  h('tr', {}, ...cells.map((cell, i) => h('td', { class: i >= numericFrom ? 'num' : null }, cell)));

/** Runs `load` and shows its failure, unless the page was left meanwhile. */
export async function loadInto(signal: AbortSignal, errors: ReturnType<typeof errorRegion>, load: () => Promise<void>): Promise<void> {
  try {
    await load();
    if (!signal.aborted) errors.clear();
  } catch (err) {
    if (!signal.aborted) errors.show(err);
  }
}

/**
 * Previous/next paging over a list the API pages with `limit` and `offset`. `fetch` loads the page
 * at the current offset and returns its entries' count and the total; `reset` goes back to the first page.
 */
export function pager(infoId: string, pageSize: () => number, fetch: (offset: number) => Promise<{ shown: number; total: number }>) {
  let offset = 0;
  const info = h('p', { class: 'page-info', 'aria-live': 'polite', id: infoId });
  const previous = h('button', { type: 'button', class: 'quiet', onclick: () => turn(-1) }, 'Previous');
  const next = h('button', { type: 'button', class: 'quiet', onclick: () => turn(1) }, 'Next');
  const element = h('nav', { class: 'pager', 'aria-label': 'Pages' }, previous, info, next);
  const turn = (direction: number) => {
    offset = Math.max(0, offset + direction * pageSize());
    void load();
  };
  async function load(): Promise<void> {
    const { shown, total } = await fetch(offset);
    info.textContent = total === 0 ? 'No requests match.' : `${formatInt(offset + 1)}–${formatInt(offset + shown)} of ${formatInt(total)}`;
    previous.disabled = offset === 0;
    next.disabled = offset + shown >= total;
  }
  return { element, load, offset: () => offset, reset: () => (offset = 0) };
}

/** A filter form: the range, the fields that match (in a "Match" fieldset), an Apply button and a status line. */
export function filterForm(range: HTMLElement, matches: HTMLElement[], status: HTMLElement, apply: () => void): HTMLFormElement {
  const submit = (event: SubmitEvent) => {
    event.preventDefault();
    apply();
  };
  return h(
    'form',
    { class: 'filters', novalidate: true, 'aria-label': 'Filters', onsubmit: submit },
    range,
    h('fieldset', {}, h('legend', {}, 'Match'), ...matches),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Apply')),
    status,
  );
}
