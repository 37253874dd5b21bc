import type { BudgetDefinition } from '../config.ts';
import type { Sql } from '../db/sql.ts';
import { currentPeriod, type BudgetSettings, type Period } from './periods.ts';

export const BUDGETS_CHANNEL = 'gomodel_budgets';

/** A budget row: its definition and its ledger for `period_start`. Amounts are exact decimal strings. */
export interface BudgetRecord {
  user_path: string;
  period_seconds: number;
  amount: string;
  source: 'config' | 'manual';
  last_reset_at: Date | null;
  created_at: Date;
  updated_at: Date;
  period_start: Date | null;
  spent: string | null;
  reserved: string;
}

export type StoredSettings = BudgetSettings & { updated_at: Date };

/** A budget with its live state in the current period. */
export interface BudgetState {
  record: BudgetRecord;
  period: Period;
  /** Settled cost since the period started, null when nothing priced was spent. */
  spent: string | null;
}

const settingsColumns = [
  'daily_reset_hour', 'daily_reset_minute', 'weekly_reset_weekday', 'weekly_reset_hour', 'weekly_reset_minute',
  'monthly_reset_day', 'monthly_reset_hour', 'monthly_reset_minute',
] as const satisfies readonly (keyof BudgetSettings)[];

/**
 * Budget definitions, settings and ledgers in PostgreSQL. Every change is announced on
 * `gomodel_budgets` so every replica reloads its view at once.
 */
export class BudgetStore {
  constructor(private readonly sql: Sql) {}

  private notify() {
    return this.sql.notify(BUDGETS_CHANNEL, 'changed');
  }

  async settings(): Promise<StoredSettings> {
    const [row] = await this.sql<StoredSettings[]>`select ${this.sql(settingsColumns)}, updated_at from budget_settings`;
    return row!;
  }

  async updateSettings(patch: Partial<BudgetSettings>): Promise<StoredSettings> {
    const keys = settingsColumns.filter((k) => patch[k] !== undefined);
    if (keys.length) {
      await this.sql`update budget_settings set ${this.sql(patch as Record<string, number>, keys)}, updated_at = now()`;
      await this.notify();
    }
    return this.settings();
  }

  list(): Promise<BudgetRecord[]> {
    return this.sql<BudgetRecord[]>`select * from budgets order by user_path, period_seconds`;
  }

  /** Creates or changes a budget. A `config` write never overwrites a `manual` budget. */
  async upsert(userPath: string, periodSeconds: number, amount: string, source: 'config' | 'manual'): Promise<void> {
    await this.sql`
      insert into budgets (user_path, period_seconds, amount, source)
      values (${userPath}, ${periodSeconds}, ${amount}, ${source})
      on conflict (user_path, period_seconds) do update
        set amount = excluded.amount, source = excluded.source, updated_at = now()
        where ${source === 'manual'} or budgets.source = 'config'`;
    await this.notify();
  }

  async remove(userPath: string, periodSeconds: number): Promise<boolean> {
    const rows = await this.sql`delete from budgets where user_path = ${userPath} and period_seconds = ${periodSeconds} returning 1`;
    await this.notify();
    return rows.length > 0;
  }

  /** Starts a new period now: spend restarts from zero; reservations in flight stay held. */
  async reset(key?: { userPath: string; periodSeconds: number }): Promise<boolean> {
    const which = key ? this.sql`where user_path = ${key.userPath} and period_seconds = ${key.periodSeconds}` : this.sql``;
    const rows = await this.sql`
      update budgets set last_reset_at = now(), period_start = now(), spent = null, updated_at = now() ${which} returning 1`;
    await this.notify();
    return rows.length > 0;
  }

  /**
   * Makes the `config` budgets match the configuration: adds and updates them (never over a
   * `manual` one) and deletes those no longer configured.
   */
  async reconcile(defs: readonly BudgetDefinition[]): Promise<void> {
    await this.sql.begin(async (tx) => {
      await tx`delete from budgets where source = 'config' and (user_path, period_seconds) not in (
        select * from unnest(${defs.map((d) => d.userPath)}::text[], ${defs.map((d) => d.periodSeconds)}::int[]))`;
      for (const d of defs) {
        await tx`
          insert into budgets (user_path, period_seconds, amount, source) values (${d.userPath}, ${d.periodSeconds}, ${String(d.amount)}, 'config')
          on conflict (user_path, period_seconds) do update set amount = excluded.amount, updated_at = now()
            where budgets.source = 'config' and budgets.amount <> excluded.amount`;
      }
    });
    await this.notify();
  }

  /**
   * Every budget with its current period and spend. A ledger still on an earlier period (a
   * period that just ended, a reset, changed anchors) is answered from recorded usage instead.
   */
  async states(settings: BudgetSettings, now: number): Promise<BudgetState[]> {
    const records = await this.list();
    const states = records.map((record) => ({
      record,
      period: currentPeriod(record.period_seconds, settings, record.last_reset_at?.getTime() ?? null, now),
      spent: record.spent,
    }));
    const stale = states.filter((s) => s.record.period_start?.getTime() !== s.period.start);
    if (stale.length) {
      const spends = await this.sql<{ spent: string | null }[]>`
        select gm_subtree_spend(p, s) as spent
          from unnest(${stale.map((s) => s.record.user_path)}::text[], ${stale.map((s) => new Date(s.period.start).toISOString())}::timestamptz[])
               with ordinality as x(p, s, n)
         order by n`;
      stale.forEach((s, i) => (s.spent = spends[i]!.spent));
    }
    return states;
  }
}
