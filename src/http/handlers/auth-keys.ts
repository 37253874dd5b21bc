import { invalidRequest, notFound } from '../../errors.ts';
import type { KeyRing } from '../../keys/ring.ts';
import { redacted } from '../../keys/secret.ts';
import type { AuthKeyRecord, AuthKeyStore } from '../../keys/store.ts';
import type { Handler, HandlerContext } from '../context.ts';
import { isUuid, userPathOf } from './admin-input.ts';

export interface AuthKeyDeps {
  store: AuthKeyStore;
  ring: KeyRing;
  now?: () => number;
}

const DEFAULT_GRACE_SECONDS = 3600;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** A key as the admin API shows it: the secret only as its last four characters. */
function view(r: AuthKeyRecord, now: number) {
  const expired = r.expires_at !== null && r.expires_at.getTime() <= now;
  const graceOpen = r.previous_hash !== null && r.previous_expires_at !== null && r.previous_expires_at.getTime() > now;
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    user_path: r.user_path,
    labels: r.labels,
    dashboard_access: r.dashboard_access,
    enabled: r.deactivated_at === null,
    active: r.deactivated_at === null && !expired,
    redacted_value: redacted(r.secret_tail),
    expires_at: iso(r.expires_at),
    deactivated_at: iso(r.deactivated_at),
    last_used_at: iso(r.last_used_at),
    rotated_at: iso(r.rotated_at),
    previous_value_expires_at: graceOpen ? iso(r.previous_expires_at) : null,
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
  };
}

function idOf(ctx: HandlerContext): string {
  const id = ctx.params?.id ?? '';
  if (!isUuid(id)) throw missing(id);
  return id;
}

const missing = (id: string) => notFound(`no API key with id ${JSON.stringify(id)}`, 'auth_key_not_found', 'id');

function labelsOf(value: unknown): string[] {
  const labels = [...new Set((value as string[] | undefined) ?? [])].map((l) => l.trim());
  for (const l of labels) if (!l || /[\u0000-\u001f\u007f]/.test(l)) throw invalidRequest('labels must be non-empty printable strings', 'labels');
  return labels;
}

function expiryOf(value: unknown, now: number): Date | null {
  if (value === undefined || value === null || value === '') return null;
  const at = new Date(String(value));
  if (Number.isNaN(at.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(String(value))) throw invalidRequest('expires_at must be an RFC 3339 date-time, e.g. 2027-01-31T00:00:00Z', 'expires_at');
  if (at.getTime() <= now) throw invalidRequest('expires_at must be in the future', 'expires_at');
  return at;
}

export function authKeyHandlers(deps: AuthKeyDeps) {
  const { store, ring } = deps;
  const now = deps.now ?? Date.now;

  /** Runs a change, then reloads this replica's keys at once (the others reload on the notification). */
  const change =
    (run: (ctx: HandlerContext) => Promise<{ status?: number; body: unknown } | void>): Handler =>
    async (ctx) => {
      const reply = await run(ctx);
      await ring.reload();
      if (reply) return reply;
      ctx.res.writeHead(204).end();
    };

  const listAuthKeys: Handler = async () => {
    await ring.flushUsed();
    const at = now();
    return { body: (await store.list()).map((r) => view(r, at)) };
  };

  const createAuthKey = change(async (ctx) => {
    const b = ctx.body as { name: string; description?: string; user_path?: string; labels?: string[]; expires_at?: string | null; dashboard_access?: boolean };
    const name = b.name.trim();
    if (!name) throw invalidRequest('name must not be blank', 'name');
    const { record, value } = await store.create({
      name,
      description: b.description ?? '',
      userPath: userPathOf(b.user_path),
      labels: labelsOf(b.labels),
      expiresAt: expiryOf(b.expires_at, now()),
      dashboardAccess: b.dashboard_access ?? false,
    });
    return { status: 201, body: { ...view(record, now()), value } };
  });

  const updateAuthKeyLabels = change(async (ctx) => {
    const id = idOf(ctx);
    const record = await store.setLabels(id, labelsOf((ctx.body as { labels: string[] }).labels));
    if (!record) throw missing(id);
    return { body: view(record, now()) };
  });

  const updateAuthKeyDashboardAccess = change(async (ctx) => {
    const id = idOf(ctx);
    const record = await store.setDashboardAccess(id, (ctx.body as { dashboard_access: boolean }).dashboard_access);
    if (!record) throw missing(id);
    return { body: view(record, now()) };
  });

  const deactivateAuthKey = change(async (ctx) => {
    const id = idOf(ctx);
    if (!(await store.deactivate(id))) throw missing(id);
  });

  const rotateAuthKey = change(async (ctx) => {
    const id = idOf(ctx);
    const grace = (ctx.body as { grace_seconds?: number } | undefined)?.grace_seconds ?? DEFAULT_GRACE_SECONDS;
    const rotated = await store.rotate(id, grace);
    if (!rotated) {
      if (await store.get(id)) throw invalidRequest('a deactivated key cannot be rotated; create a new key', null, 'auth_key_deactivated');
      throw missing(id);
    }
    return { body: { ...view(rotated.record, now()), value: rotated.value } };
  });

  const deleteAuthKey = change(async (ctx) => {
    const id = idOf(ctx);
    if (!(await store.remove(id))) throw missing(id);
  });

  return { listAuthKeys, createAuthKey, updateAuthKeyLabels, updateAuthKeyDashboardAccess, deactivateAuthKey, rotateAuthKey, deleteAuthKey };
}
