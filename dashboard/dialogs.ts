import { h } from './dom.ts';

/** Asks before a destructive action; resolves true only when the operator confirms. */
export function confirmAction(question: string, detail: string, confirmLabel: string): Promise<boolean> {
  return new Promise((resolve) => {
    const dialog = h(
      'dialog',
      { class: 'confirm', 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-detail' },
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: 'confirm-title' }, question),
        h('p', { id: 'confirm-detail' }, detail),
        h('div', { class: 'actions' }, h('button', { value: 'cancel', autofocus: true }, 'Cancel'), h('button', { value: 'confirm', class: 'danger' }, confirmLabel)),
      ),
    );
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'confirm');
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** A modal with a title and content, removed from the page when closed. */
export function showModal(title: string, content: Node[]): void {
  // Removed at once, not on the 'close' event a task later: the content may be a secret.
  const dismiss = () => {
    dialog.close();
    dialog.remove();
  };
  const dialog = h(
    'dialog',
    { class: 'details', 'aria-labelledby': 'details-title' },
    h(
      'div',
      { class: 'dialog-body' },
      h('div', { class: 'dialog-head' }, h('h2', { id: 'details-title' }, title), h('button', { type: 'button', class: 'quiet', onclick: dismiss }, 'Close')),
      ...content,
    ),
  );
  dialog.addEventListener('close', () => dialog.remove());
  dialog.addEventListener('click', (event: MouseEvent) => {
    if (event.target === dialog) dismiss(); // the body fills the dialog, so this is the backdrop
  });
  document.body.append(dialog);
  dialog.showModal();
}
