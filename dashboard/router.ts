/** A page of the dashboard. `mount` fills `root`; `signal` aborts when the page is left. */
export interface View {
  title: string;
  mount(root: HTMLElement, signal: AbortSignal): void;
}

/**
 * Hash routing (`#/overview`, `#/log`, …). Leaving a page aborts its signal, which cancels its
 * requests, timers and charts. Any other hash goes to `home`.
 */
export function startRouter(root: HTMLElement, views: Record<string, View>, home: string): { reload(): void } {
  let leave: AbortController | null = null;

  function render(moveFocus: boolean): void {
    const name = location.hash.slice(2);
    const view = Object.hasOwn(views, name) ? views[name] : undefined;
    if (!view) {
      history.replaceState(null, '', `#/${home}`);
      return render(moveFocus);
    }
    leave?.abort();
    leave = new AbortController();
    root.replaceChildren();
    document.title = `${view.title} · gomodel-ts`;
    for (const link of document.querySelectorAll<HTMLAnchorElement>('nav a')) {
      if (link.hash === `#/${name}`) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    view.mount(root, leave.signal);
    // Screen readers announce the new page's heading rather than staying on the link that led there.
    if (moveFocus) root.querySelector<HTMLElement>('h1')?.focus();
  }

  addEventListener('hashchange', () => render(true));
  render(false);
  return { reload: () => render(false) };
}
