import { configureApi } from './api.ts';
import { startRouter } from './router.ts';
import { storedKey, forgetKey } from './session.ts';
import { createSignIn } from './sign-in.ts';
import { breakdownsView } from './views/breakdowns.ts';
import { budgetsView } from './views/budgets.ts';
import { keysView } from './views/keys.ts';
import { logView } from './views/log.ts';
import { auditView } from './views/audit.ts';
import { overviewView } from './views/overview.ts';
import { providersView } from './views/providers.ts';

const signOut = document.querySelector<HTMLButtonElement>('#sign-out')!;
const showSignOut = () => (signOut.hidden = storedKey() === null);

const signIn = createSignIn(() => {
  showSignOut();
  router.reload();
});
configureApi(() => {
  signIn.open();
  showSignOut();
});
const main = document.querySelector<HTMLElement>('#main')!;
const router = startRouter(main, { overview: overviewView, log: logView, audit: auditView, breakdowns: breakdownsView, budgets: budgetsView, keys: keysView, providers: providersView }, 'overview');

// The skip link moves focus without touching the hash, which is the router's.
document.querySelector('.skip-link')!.addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});

signOut.addEventListener('click', () => {
  forgetKey();
  location.reload();
});
showSignOut();
