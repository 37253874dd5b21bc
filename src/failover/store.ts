import type { Sql } from '../db/sql.ts';

export const FAILOVER_CHANNEL = 'gomodel_failover';

export interface FailoverRecord {
  primary_model: string;
  fallback_models: string[];
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

/**
 * The admin-managed failover rules in PostgreSQL. Every change is announced on `gomodel_failover`,
 * so every replica reloads its rules within a notification's delay.
 */
export class FailoverStore {
  constructor(private readonly sql: Sql) {}

  private notify() {
    return this.sql.notify(FAILOVER_CHANNEL, 'changed');
  }

  list(): Promise<FailoverRecord[]> {
    return this.sql<FailoverRecord[]>`select * from failover_rules order by primary_model`;
  }

  async upsert(primary: string, fallbacks: string[], enabled: boolean): Promise<FailoverRecord> {
    const [row] = await this.sql<FailoverRecord[]>`
      insert into failover_rules (primary_model, fallback_models, enabled)
      values (${primary}, ${fallbacks}, ${enabled})
      on conflict (primary_model) do update
        set fallback_models = excluded.fallback_models, enabled = excluded.enabled, updated_at = now()
      returning *`;
    await this.notify();
    return row!;
  }

  async remove(primary: string): Promise<boolean> {
    const rows = await this.sql`delete from failover_rules where primary_model = ${primary} returning 1`;
    await this.notify();
    return rows.length > 0;
  }

  /** Drops every admin-managed rule; the configuration's rules stay. */
  async reset(): Promise<void> {
    await this.sql`delete from failover_rules`;
    await this.notify();
  }
}
