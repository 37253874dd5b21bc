import type { RateLimitDefinition } from '../config.ts';
import type { Sql } from '../db/sql.ts';
import { CONCURRENT, windowOf, type RateLimitScope } from './rules.ts';

export const RATE_LIMITS_CHANNEL = 'gomodel_rate_limits';

export interface RateLimitRecord {
  scope: RateLimitScope;
  subject: string;
  period_seconds: number;
  max_requests: string | null;
  max_tokens: string | null;
  source: 'config' | 'manual';
  last_reset_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface RateLimitKey {
  scope: RateLimitScope;
  subject: string;
  periodSeconds: number;
}

/** A rule with its counters across all replicas in the window holding `now`. */
export interface RateLimitState {
  record: RateLimitRecord;
  /** null for a concurrency rule. */
  window: { start: number; end: number } | null;
  requests: number;
  tokens: number;
  inFlight: number;
}

const anchorOf = (r: RateLimitRecord) => r.last_reset_at?.getTime() ?? 0;

/**
 * Rate limit rules and their counters in PostgreSQL. Every change is announced on
 * `gomodel_rate_limits` so every replica reloads its rules at once.
 */
export class RateLimitStore {
  constructor(private readonly sql: Sql) {}

  private notify() {
    return this.sql.notify(RATE_LIMITS_CHANNEL, 'changed');
  }

  list(): Promise<RateLimitRecord[]> {
    return this.sql<RateLimitRecord[]>`select * from rate_limits order by scope, subject, period_seconds`;
  }

  /** Creates or changes a rule. A `config` write never overwrites a `manual` rule. */
  async upsert(key: RateLimitKey, maxRequests: number | null, maxTokens: number | null, source: 'config' | 'manual'): Promise<void> {
    await this.sql`
      insert into rate_limits (scope, subject, period_seconds, max_requests, max_tokens, source)
      values (${key.scope}, ${key.subject}, ${key.periodSeconds}, ${maxRequests}, ${maxTokens}, ${source})
      on conflict (scope, subject, period_seconds) do update
        set max_requests = excluded.max_requests, max_tokens = excluded.max_tokens, source = excluded.source, updated_at = now()
        where ${source === 'manual'} or rate_limits.source = 'config'`;
    await this.notify();
  }

  async remove(key: RateLimitKey): Promise<boolean> {
    const rows = await this.sql`
      delete from rate_limits where scope = ${key.scope} and subject = ${key.subject} and period_seconds = ${key.periodSeconds} returning 1`;
    await this.notify();
    return rows.length > 0;
  }

  /**
   * Starts the windows of one rule (or all) afresh now: used requests and tokens restart from
   * zero. Requests in flight keep their concurrency slots.
   */
  async reset(key?: RateLimitKey): Promise<boolean> {
    const which = key
      ? this.sql`where scope = ${key.scope} and subject = ${key.subject} and period_seconds = ${key.periodSeconds}`
      : this.sql``;
    // Milliseconds: windows are computed in JavaScript from this anchor and must meet the stored ones.
    const rows = await this.sql.begin(async (tx) => {
      const updated = await tx`update rate_limits set last_reset_at = date_trunc('milliseconds', now()), updated_at = now() ${which} returning 1`;
      await tx`delete from rate_limit_windows ${which}`;
      return updated;
    });
    await this.notify();
    return rows.length > 0;
  }

  /** Makes the `config` rules match the configuration (never over a `manual` one). */
  async reconcile(defs: readonly RateLimitDefinition[]): Promise<void> {
    await this.sql.begin(async (tx) => {
      await tx`delete from rate_limits where source = 'config' and (scope, subject, period_seconds) not in (
        select 'user_path', * from unnest(${defs.map((d) => d.userPath)}::text[], ${defs.map((d) => d.periodSeconds)}::int[]))`;
      for (const d of defs) {
        await tx`
          insert into rate_limits (scope, subject, period_seconds, max_requests, max_tokens, source)
          values ('user_path', ${d.userPath}, ${d.periodSeconds}, ${d.maxRequests}, ${d.maxTokens}, 'config')
          on conflict (scope, subject, period_seconds) do update
            set max_requests = excluded.max_requests, max_tokens = excluded.max_tokens, updated_at = now()
            where rate_limits.source = 'config'
              and (rate_limits.max_requests, rate_limits.max_tokens) is distinct from (excluded.max_requests, excluded.max_tokens)`;
      }
    });
    await this.notify();
  }

  /** Every rule with its counters in its current window (requests and tokens as written so far). */
  async states(now: number): Promise<RateLimitState[]> {
    const records = await this.list();
    const windows = records.map((r) => (r.period_seconds === CONCURRENT ? null : windowOf({ seconds: r.period_seconds, anchor: anchorOf(r) }, now)));
    const [counts, flight] = await Promise.all([
      this.sql<{ n: number; requests: string; tokens: string }[]>`
        select x.n, w.requests, w.tokens
          from unnest(${records.map((r) => r.scope)}::text[], ${records.map((r) => r.subject)}::text[], ${records.map((r) => r.period_seconds)}::int[],
                      ${windows.map((w) => (w ? new Date(w.start).toISOString() : null))}::timestamptz[]) with ordinality as x(scope, subject, period_seconds, window_start, n)
          join rate_limit_windows w using (scope, subject, period_seconds, window_start)`,
      this.sql<{ scope: string; subject: string; in_use: string }[]>`
        select scope, subject, sum(in_use) as in_use from rate_limit_leases
         where period_seconds = 0 and expires_at > now() group by 1, 2`,
    ]);
    const byN = new Map(counts.map((c) => [Number(c.n), c]));
    const inUse = new Map(flight.map((f) => [`${f.scope}\0${f.subject}`, Number(f.in_use)]));
    return records.map((record, i) => ({
      record,
      window: windows[i]!,
      requests: Number(byN.get(i + 1)?.requests ?? 0),
      tokens: Number(byN.get(i + 1)?.tokens ?? 0),
      inFlight: record.period_seconds === CONCURRENT ? (inUse.get(`${record.scope}\0${record.subject}`) ?? 0) : 0,
    }));
  }
}
