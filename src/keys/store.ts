import type { Sql } from '../db/sql.ts';
import { newSecret, secretDigest, secretTail } from './secret.ts';

export const AUTH_KEYS_CHANNEL = 'gomodel_auth_keys';

/** A managed key as stored, without its secret (only digests are stored). */
export interface AuthKeyRecord {
  id: string;
  name: string;
  description: string;
  user_path: string;
  labels: string[];
  dashboard_access: boolean;
  secret_hash: Buffer;
  secret_tail: string;
  previous_hash: Buffer | null;
  previous_expires_at: Date | null;
  expires_at: Date | null;
  deactivated_at: Date | null;
  last_used_at: Date | null;
  rotated_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface NewAuthKey {
  name: string;
  description: string;
  userPath: string;
  labels: string[];
  expiresAt: Date | null;
  dashboardAccess: boolean;
}

/**
 * Managed API keys in PostgreSQL. Every change is announced on `gomodel_auth_keys`, so every
 * replica reloads its key table within a notification's delay.
 */
export class AuthKeyStore {
  constructor(private readonly sql: Sql) {}

  private notify(id: string) {
    return this.sql.notify(AUTH_KEYS_CHANNEL, id);
  }

  list(): Promise<AuthKeyRecord[]> {
    return this.sql<AuthKeyRecord[]>`select * from auth_keys order by created_at desc, id`;
  }

  async get(id: string): Promise<AuthKeyRecord | null> {
    const [record] = await this.sql<AuthKeyRecord[]>`select * from auth_keys where id = ${id}`;
    return record ?? null;
  }

  /** Creates a key; the secret is returned here and nowhere else. */
  async create(k: NewAuthKey): Promise<{ record: AuthKeyRecord; value: string }> {
    const value = newSecret();
    const [record] = await this.sql<AuthKeyRecord[]>`
      insert into auth_keys (name, description, user_path, labels, dashboard_access, secret_hash, secret_tail, expires_at)
      values (${k.name}, ${k.description}, ${k.userPath}, ${k.labels}, ${k.dashboardAccess}, ${secretDigest(value)}, ${secretTail(value)}, ${k.expiresAt})
      returning *`;
    await this.notify(record!.id);
    return { record: record!, value };
  }

  private async change(id: string, run: (sql: Sql) => Promise<AuthKeyRecord[]>): Promise<AuthKeyRecord | null> {
    const [record] = await run(this.sql);
    if (record) await this.notify(id);
    return record ?? null;
  }

  setLabels(id: string, labels: string[]): Promise<AuthKeyRecord | null> {
    return this.change(id, (sql) => sql<AuthKeyRecord[]>`update auth_keys set labels = ${labels}, updated_at = now() where id = ${id} returning *`);
  }

  setDashboardAccess(id: string, access: boolean): Promise<AuthKeyRecord | null> {
    return this.change(id, (sql) => sql<AuthKeyRecord[]>`update auth_keys set dashboard_access = ${access}, updated_at = now() where id = ${id} returning *`);
  }

  async deactivate(id: string): Promise<boolean> {
    return (
      (await this.change(
        id,
        (sql) => sql<AuthKeyRecord[]>`update auth_keys set deactivated_at = coalesce(deactivated_at, now()), updated_at = now() where id = ${id} returning *`,
      )) !== null
    );
  }

  /**
   * Gives the key a new secret; the one it replaces stays valid for `graceSeconds`, and is then
   * refused as rotated (a secret replaced earlier is forgotten: one previous secret at a time).
   */
  async rotate(id: string, graceSeconds: number): Promise<{ record: AuthKeyRecord; value: string } | null> {
    const value = newSecret();
    const record = await this.change(
      id,
      (sql) => sql<AuthKeyRecord[]>`
        update auth_keys
           set previous_hash = secret_hash, previous_expires_at = now() + make_interval(secs => ${graceSeconds}),
               secret_hash = ${secretDigest(value)}, secret_tail = ${secretTail(value)}, rotated_at = now(), updated_at = now()
         where id = ${id} and deactivated_at is null
         returning *`,
    );
    return record ? { record, value } : null;
  }

  async remove(id: string): Promise<boolean> {
    return (await this.change(id, (sql) => sql<AuthKeyRecord[]>`delete from auth_keys where id = ${id} returning *`)) !== null;
  }

  /** Records when keys were last used; many requests' worth in one statement, no notification. */
  async touch(used: Map<string, number>): Promise<void> {
    if (used.size === 0) return;
    const ids = [...used.keys()];
    const at = ids.map((id) => new Date(used.get(id)!).toISOString());
    await this.sql`
      update auth_keys k set last_used_at = greatest(k.last_used_at, u.at)
        from unnest(${ids}::uuid[], ${at}::timestamptz[]) as u(id, at) where k.id = u.id`;
  }
}
