import type { Sql } from '../db/sql.ts';
import { Watched } from '../db/watched.ts';
import type { Logger } from '../log.ts';
import { FAILOVER_CHANNEL, type FailoverRecord, type FailoverStore } from './store.ts';

/** A rule as the admin API shows it (`failover.View`). */
export interface FailoverView {
  primary_model: string;
  fallback_models: string[];
  enabled: boolean;
  /** Managed through the admin API (stored), rather than read from the configuration. */
  managed: boolean;
  managed_source: 'admin' | 'config' | 'generated';
  created_at?: string;
  updated_at?: string;
}

/**
 * The failover rules in force, in memory: the configuration's (`failover.rules`,
 * FAILOVER_RULES_JSON) under the admin-managed ones from PostgreSQL, which win for the same
 * primary model. A change anywhere is announced on `gomodel_failover` and every process reloads
 * the (small) table when it arrives; a reload every 30 s covers a lost connection. Looking up a
 * request's chain is one to three map look-ups, never a database round trip.
 */
export class FailoverRules {
  private stored: FailoverRecord[] = [];
  /** Enabled chains by primary model selector. */
  private chains = new Map<string, readonly string[]>();
  private readonly watched: Watched;

  constructor(
    private readonly configured: ReadonlyMap<string, readonly string[]>,
    private readonly store: FailoverStore,
    private readonly log: Logger,
  ) {
    this.watched = new Watched(() => this.load(), 'failover rules', log);
    this.install([]);
  }

  async start(listenSql: Sql): Promise<void> {
    await this.watched.start(listenSql, FAILOVER_CHANNEL);
  }

  async stop(): Promise<void> {
    await this.watched.stop();
  }

  /** Reloads the stored rules; concurrent calls share one load and a change during it loads again. */
  reload(): Promise<void> {
    return this.watched.reload();
  }

  private async load(): Promise<void> {
    this.install(await this.store.list());
  }

  private install(records: FailoverRecord[]): void {
    const chains = new Map<string, readonly string[]>();
    for (const [primary, fallbacks] of this.configured) if (fallbacks.length) chains.set(primary, fallbacks);
    for (const r of records) {
      if (r.enabled && r.fallback_models.length) chains.set(r.primary_model, Object.freeze([...r.fallback_models]));
      else chains.delete(r.primary_model);
    }
    this.stored = records;
    this.chains = chains;
  }

  /** Whether any chain is in force: when none is, requests skip the look-up. */
  get any(): boolean {
    return this.chains.size > 0;
  }

  /**
   * The models to try after the one a request asked for: the rule of the selector as the client
   * wrote it, else of `provider/model` of the route it resolved to, else of the bare model.
   */
  fallbacks(requested: string, provider: string, model: string): readonly string[] | undefined {
    if (this.chains.size === 0) return undefined;
    return this.chains.get(requested) ?? this.chains.get(`${provider}/${model}`) ?? this.chains.get(model);
  }

  /** Every rule: the stored ones, and the configuration's that no stored one replaces. */
  views(): FailoverView[] {
    const storedNames = new Set(this.stored.map((r) => r.primary_model));
    const views: FailoverView[] = this.stored.map((r) => ({
      primary_model: r.primary_model,
      fallback_models: r.fallback_models,
      enabled: r.enabled,
      managed: true,
      managed_source: 'admin',
      created_at: r.created_at.toISOString(),
      updated_at: r.updated_at.toISOString(),
    }));
    for (const [primary, fallbacks] of this.configured) {
      if (!storedNames.has(primary)) views.push({ primary_model: primary, fallback_models: [...fallbacks], enabled: true, managed: false, managed_source: 'config' });
    }
    return views.sort((a, b) => a.primary_model.localeCompare(b.primary_model));
  }

  isConfigured(primary: string): boolean {
    return this.configured.has(primary);
  }
}
