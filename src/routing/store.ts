import type postgres from 'postgres';
import type { Sql } from '../db/sql.ts';
import type { VirtualModelDefinition, VirtualModelStrategy, VirtualModelTarget } from '../virtual-model-definition.ts';

export const VIRTUAL_MODELS_CHANNEL = 'gomodel_virtual_models';

/** A virtual model made through the admin API, as stored. */
export interface StoredVirtualModel extends VirtualModelDefinition {
  createdAt: Date;
  updatedAt: Date;
}

interface Row {
  source: string;
  targets: VirtualModelTarget[];
  strategy: VirtualModelStrategy;
  user_paths: string[];
  description: string;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

const fromRow = (r: Row): StoredVirtualModel => ({
  source: r.source,
  targets: r.targets,
  strategy: r.strategy,
  userPaths: r.user_paths,
  description: r.description,
  enabled: r.enabled,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/**
 * Virtual models made through the admin API, in PostgreSQL. Every change is announced on
 * `gomodel_virtual_models`, so every replica reloads them within a notification's delay.
 */
export class VirtualModelStore {
  constructor(private readonly sql: Sql) {}

  async list(): Promise<StoredVirtualModel[]> {
    return (await this.sql<Row[]>`select * from virtual_models order by source`).map(fromRow);
  }

  /**
   * Creates or replaces the virtual model of `def.source`; with `oldSource`, the one it renames
   * goes in the same transaction. Null when `oldSource` names none.
   */
  async save(def: VirtualModelDefinition, oldSource?: string): Promise<StoredVirtualModel | null> {
    const saved = await this.sql.begin(async (tx) => {
      let createdAt: Date | null = null;
      if (oldSource !== undefined && oldSource !== def.source) {
        const [old] = await tx<{ created_at: Date }[]>`delete from virtual_models where source = ${oldSource} returning created_at`;
        if (!old) return null;
        createdAt = old.created_at;
      }
      const [row] = await tx<Row[]>`
        insert into virtual_models (source, targets, strategy, user_paths, description, enabled, created_at)
        values (${def.source}, ${tx.json(def.targets as unknown as postgres.JSONValue)}, ${def.strategy}, ${def.userPaths}, ${def.description}, ${def.enabled}, coalesce(${createdAt}::timestamptz, now()))
        on conflict (source) do update
          set targets = excluded.targets, strategy = excluded.strategy, user_paths = excluded.user_paths,
              description = excluded.description, enabled = excluded.enabled, updated_at = now()
        returning *`;
      await tx`select pg_notify(${VIRTUAL_MODELS_CHANNEL}, ${def.source})`;
      return row!;
    });
    return saved && fromRow(saved);
  }

  async remove(source: string): Promise<boolean> {
    const [row] = await this.sql`delete from virtual_models where source = ${source} returning source`;
    if (row) await this.sql.notify(VIRTUAL_MODELS_CHANNEL, source);
    return row !== undefined;
  }
}
