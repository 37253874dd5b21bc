import type { Sql } from '../db/sql.ts';

export const PROVIDER_CREDENTIALS_CHANNEL = 'gomodel_provider_credentials';

/** A provider configured through the admin API, as stored: its keys sealed (src/credentials/cipher.ts). */
export interface CredentialRecord {
  name: string;
  type: string;
  base_url: string;
  models: string[];
  enabled: boolean;
  secret: Buffer;
  key_hints: string[];
  created_at: Date;
  updated_at: Date;
}

export interface CredentialChange {
  name: string;
  type: string;
  baseUrl: string;
  models: string[];
  enabled: boolean;
  /** Absent on an update that keeps the stored keys. */
  keys?: { secret: Buffer; hints: string[] };
}

/**
 * Provider credentials in PostgreSQL. Every change is announced on `gomodel_provider_credentials`,
 * so every replica registers or drops the provider within a notification's delay.
 */
export class CredentialStore {
  constructor(private readonly sql: Sql) {}

  list(): Promise<CredentialRecord[]> {
    return this.sql<CredentialRecord[]>`select * from provider_credentials order by name`;
  }

  async get(name: string): Promise<CredentialRecord | null> {
    const [record] = await this.sql<CredentialRecord[]>`select * from provider_credentials where name = ${name}`;
    return record ?? null;
  }

  /** Creates or replaces a provider; null when an update without keys names no stored provider. */
  async upsert(c: CredentialChange): Promise<CredentialRecord | null> {
    const [record] = c.keys
      ? await this.sql<CredentialRecord[]>`
          insert into provider_credentials (name, type, base_url, models, enabled, secret, key_hints)
          values (${c.name}, ${c.type}, ${c.baseUrl}, ${c.models}, ${c.enabled}, ${c.keys.secret}, ${c.keys.hints})
          on conflict (name) do update
            set type = excluded.type, base_url = excluded.base_url, models = excluded.models, enabled = excluded.enabled,
                secret = excluded.secret, key_hints = excluded.key_hints, updated_at = now()
          returning *`
      : await this.sql<CredentialRecord[]>`
          update provider_credentials
             set type = ${c.type}, base_url = ${c.baseUrl}, models = ${c.models}, enabled = ${c.enabled}, updated_at = now()
           where name = ${c.name}
          returning *`;
    if (record) await this.sql.notify(PROVIDER_CREDENTIALS_CHANNEL, c.name);
    return record ?? null;
  }

  async remove(name: string): Promise<boolean> {
    const [record] = await this.sql<{ name: string }[]>`delete from provider_credentials where name = ${name} returning name`;
    if (record) await this.sql.notify(PROVIDER_CREDENTIALS_CHANNEL, name);
    return record !== undefined;
  }
}
