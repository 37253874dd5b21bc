type Attribute = string | number | boolean | null | undefined;
type Listener = (event: never) => void;
export type Child = Node | string | number | null | undefined | false;

/**
 * Creates an element. `on<event>` keys attach listeners; `true` sets a boolean attribute, `false`
 * and null leave it out. Children are text nodes or elements: nothing is ever parsed as HTML, so
 * values from the API (paths, models, raw data) are always shown as text.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, Attribute | Listener> = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (typeof value === 'function') el.addEventListener(name.slice(2), value as EventListener);
    else if (value === true) el.setAttribute(name, '');
    else if (value !== false && value !== null && value !== undefined) el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(parent: Element, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : String(child));
  }
}

let lastId = 0;
/** A document-unique id for label/description links. */
export const uid = (prefix: string) => `${prefix}-${++lastId}`;
