import type postgres from 'postgres';
import type { PriceFields } from '../config.ts';
import type { Sql } from '../db/sql.ts';

export const PRICING_OVERRIDES_CHANNEL = 'gomodel_pricing_overrides';

export type ScopeKind = 'global' | 'provider' | 'model' | 'provider_model';

/** Where a selector applies: `/`, `provider/`, `model` or `provider/model` (split at the first slash). */
export interface Selector {
  selector: string;
  scopeKind: ScopeKind;
  /** A provider instance's name or a provider type; '' for the global and model scopes. */
  provider: string;
  /** '' for the global and provider scopes. */
  model: string;
}

export interface StoredPriceOverride extends Selector {
  pricing: PriceFields;
  createdAt: Date;
  updatedAt: Date;
}

/** The scope of a selector; null when it is not one (empty, blank around its slash, or a bare `provider/model/`). */
export function parseSelector(raw: string): Selector | null {
  const selector = raw.trim();
  if (!selector || /[\u0000-\u001f\u007f\s]/.test(selector)) return null;
  if (selector === '/') return { selector, scopeKind: 'global', provider: '', model: '' };
  const slash = selector.indexOf('/');
  if (slash < 0) return { selector, scopeKind: 'model', provider: '', model: selector };
  const provider = selector.slice(0, slash);
  const model = selector.slice(slash + 1);
  if (!provider || model.endsWith('/')) return null;
  return model ? { selector, scopeKind: 'provider_model', provider, model } : { selector, scopeKind: 'provider', provider, model: '' };
}

interface Row {
  selector: string;
  scope_kind: ScopeKind;
  provider_name: string;
  model: string;
  pricing: PriceFields;
  created_at: Date;
  updated_at: Date;
}

const fromRow = (r: Row): StoredPriceOverride => ({
  selector: r.selector,
  scopeKind: r.scope_kind,
  provider: r.provider_name,
  model: r.model,
  pricing: r.pricing,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/**
 * Prices set through the admin API, in PostgreSQL. Every change is announced on
 * `gomodel_pricing_overrides`, so every replica reloads them within a notification's delay.
 */
export class PriceOverrideStore {
  constructor(private readonly sql: Sql) {}

  async list(): Promise<StoredPriceOverride[]> {
    return (await this.sql<Row[]>`select * from model_pricing_overrides order by selector`).map(fromRow);
  }

  async save(s: Selector, pricing: PriceFields): Promise<StoredPriceOverride> {
    const row = await this.sql.begin(async (tx) => {
      const [saved] = await tx<Row[]>`
        insert into model_pricing_overrides (selector, scope_kind, provider_name, model, pricing)
        values (${s.selector}, ${s.scopeKind}, ${s.provider}, ${s.model}, ${tx.json(pricing as unknown as postgres.JSONValue)})
        on conflict (selector) do update set pricing = excluded.pricing, updated_at = now()
        returning *`;
      await tx`select pg_notify(${PRICING_OVERRIDES_CHANNEL}, ${s.selector})`;
      return saved!;
    });
    return fromRow(row);
  }

  async remove(selector: string): Promise<boolean> {
    const [row] = await this.sql`delete from model_pricing_overrides where selector = ${selector} returning selector`;
    if (row) await this.sql.notify(PRICING_OVERRIDES_CHANNEL, selector);
    return row !== undefined;
  }
}
