import { randomUUID } from 'node:crypto';
import { isUnavailable, type Sql } from '../db/sql.ts';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { CONCURRENT, rateLimitPeriodLabel, resetDuration, ruleId, windowOf, type RateRule } from './rules.ts';
import { RATE_LIMITS_CHANNEL, type RateLimitRecord, type RateLimitStore } from './store.ts';

export interface LimiterOptions {
  /** How long a concurrency lease lives without renewal: a process that died gives its slots back after this. */
  leaseTtlMs: number;
  /** How often admitted requests and spent tokens are written, and the other replicas' read back. */
  syncMs?: number;
}

/** A windowed rule as this process sees it in one window. */
interface WindowLease {
  start: number;
  end: number;
  /** Requests granted to this process in advance and not yet admitted. */
  available: number;
  /** The window's requests granted to all processes, as of the last exchange with the database. */
  granted: number;
  /** The window's tokens across all processes, as of the last exchange. */
  tokens: number;
  /** Admitted and spent here since the last write. */
  pendingRequests: number;
  pendingTokens: number;
  /** Whether this process has exchanged with the database in this window. */
  synced: boolean;
  lastUsed: number;
  lastTopUp: number;
  /** The next top-up asks for this many requests: doubled while requests keep coming. */
  want: number;
}

/** A concurrency rule as this process sees it. */
interface SlotLease {
  held: number;
  inUse: number;
  lastUsed: number;
  lastTopUp: number;
  want: number;
}

/** What an admitted request holds until it ends. */
export interface Admission {
  windows: { rule: RateRule; lease: WindowLease }[];
  slots: SlotLease[];
  /** x-ratelimit-* headers for the response. */
  headers: Record<string, string>;
}

interface Counts {
  rule: RateRule;
  start: number;
  requests: number;
  tokens: number;
}

const SYNC_MS = 250;
const MAINTAIN_MS = 2000;
/** A lease unused this long gives its requests or slots back, for other processes to use. */
const IDLE_MS = 1000;
/** A lease asks for at most this share of a limit, so one replica cannot starve the others for long. */
const WINDOW_SHARE = 16;
const SLOT_SHARE = 8;

const num = (v: string | number | null) => (v === null ? null : Number(v));

/**
 * Enforces rate limits shared by every replica. A process leases requests from a rule's current
 * window in PostgreSQL (the window's `granted` never exceeds `max_requests`, so all processes
 * together never admit more) and in-flight slots from a concurrency rule; a request takes from
 * the leases locally, and the process goes to the database only when a lease runs out. Leases
 * start at one request and double while requests keep coming, up to a sixteenth of the limit; an
 * idle lease is given back after a second. Admitted requests and tokens are written, and the
 * other replicas' tokens read back, every 250 ms: token caps (counted when requests complete)
 * are therefore enforced with that much delay across replicas.
 */
export class RateLimiter {
  private byPath = new Map<string, RateRule[]>();
  private byKey = new Map<string, RateRule[]>();
  private windows = new Map<string, WindowLease>();
  private slots = new Map<string, SlotLease>();
  /** Counts of windows this process has left, still to be written. */
  private leftOver: Counts[] = [];
  private readonly holder = randomUUID();
  private topUps: Promise<unknown> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  private unlisten: (() => Promise<void>) | undefined;
  /** The counter write in flight, if any. */
  private syncing: Promise<void> | null = null;

  constructor(
    /** A pool whose sessions commit asynchronously: a lease lost in a database crash only frees headroom. */
    private readonly sql: Sql,
    private readonly store: RateLimitStore,
    private readonly opts: LimiterOptions,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.refresh();
    const refresh = () => void this.refresh().catch((err: unknown) => this.log.warn({ err: String(err) }, 'could not reload rate limits'));
    const { unlisten } = await this.sql.listen(RATE_LIMITS_CHANNEL, refresh, refresh);
    this.unlisten = unlisten;
    this.timers = [
      setInterval(() => void (this.syncing ?? this.sync()), this.opts.syncMs ?? SYNC_MS),
      setInterval(() => void this.maintain(), MAINTAIN_MS),
    ];
    for (const t of this.timers) t.unref();
  }

  /** Writes what is pending and gives every lease back. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.unlisten?.();
    await this.topUps;
    await this.sync();
    await this.giveBackIdle(-1).catch(() => {});
  }

  /** Reloads the rules; leases of rules that changed are given back. */
  async refresh(): Promise<void> {
    const records = await this.store.list();
    const byPath = new Map<string, RateRule[]>();
    const byKey = new Map<string, RateRule[]>();
    const fresh = new Map<string, RateRule>();
    for (const r of records) {
      const rule: RateRule = {
        scope: r.scope,
        subject: r.subject,
        seconds: r.period_seconds,
        maxRequests: num(r.max_requests),
        maxTokens: num(r.max_tokens),
        anchor: r.last_reset_at?.getTime() ?? 0,
        id: ruleId(r.scope, r.subject, r.period_seconds),
      };
      fresh.set(rule.id, rule);
      const map = r.scope === 'user_path' ? byPath : byKey;
      map.set(r.subject, [...(map.get(r.subject) ?? []), rule]);
    }
    const before = new Map([...this.byPath.values(), ...this.byKey.values()].flat().map((r) => [r.id, r]));
    this.byPath = byPath;
    this.byKey = byKey;
    const changed = [...this.windows.keys()].filter((id) => {
      const a = before.get(id);
      const b = fresh.get(id);
      return !a || !b || a.anchor !== b.anchor || a.maxRequests !== b.maxRequests || a.maxTokens !== b.maxTokens;
    });
    for (const id of changed.filter((id) => !before.has(id))) this.windows.delete(id);
    const known = changed.filter((id) => before.has(id));
    if (known.length) await this.dropWindows(known.map((id) => [before.get(id)!, this.windows.get(id)!]));
  }

  /** Rules covering a request: those of its path and its ancestors', and those of its key. */
  private covering(userPath: string, keyId: string | null): RateRule[] {
    const out: RateRule[] = [];
    if (this.byPath.size) {
      const root = this.byPath.get('/');
      if (root) out.push(...root);
      if (userPath !== '/') {
        for (let i = userPath.indexOf('/', 1); ; i = userPath.indexOf('/', i + 1)) {
          const rules = this.byPath.get(i < 0 ? userPath : userPath.slice(0, i));
          if (rules) out.push(...rules);
          if (i < 0) break;
        }
      }
    }
    if (keyId !== null && this.byKey.size) {
      const rules = this.byKey.get(keyId);
      if (rules) out.push(...rules);
    }
    return out;
  }

  /**
   * Admits a request or refuses it: 429 `rate_limit_exceeded` with Retry-After and x-ratelimit-*
   * headers when a rule's requests, tokens or in-flight slots are used up; 503
   * `rate_limit_check_failed` when the limits cannot be checked. Returns null when no rule applies.
   * Synchronous while the leases hold enough; a promise only when a lease must be topped up.
   */
  admit(userPath: string, keyId: string | null): Admission | null | Promise<Admission> {
    const rules = this.covering(userPath, keyId);
    if (rules.length === 0) return null;
    const now = Date.now();
    return this.short(rules, now) ? this.admitAfterTopUp(userPath, keyId) : this.take(rules, now);
  }

  /** A request ended: its slots are free again and its tokens count against its windows. */
  finish(admission: Admission, tokens: number): void {
    for (const s of admission.slots) s.inUse--;
    if (tokens <= 0) return;
    for (const { rule, lease } of admission.windows) {
      if (rule.maxTokens === null) continue;
      // The window may have ended (or the rule changed) while the request ran.
      if (this.windows.get(rule.id) === lease) lease.pendingTokens += tokens;
      else this.leftOver.push({ rule, start: lease.start, requests: 0, tokens });
    }
  }

  private windowLease(rule: RateRule, now: number): WindowLease {
    let lease = this.windows.get(rule.id);
    if (lease && now < lease.end && now >= lease.start) return lease;
    if (lease) this.leave(rule, lease);
    const { start, end } = windowOf(rule, now);
    lease = { start, end, available: 0, granted: 0, tokens: 0, pendingRequests: 0, pendingTokens: 0, synced: false, lastUsed: now, lastTopUp: 0, want: 1 };
    this.windows.set(rule.id, lease);
    return lease;
  }

  /** Keeps the counts of a window this process no longer uses, for the next write. */
  private leave(rule: RateRule, lease: WindowLease): void {
    if (lease.pendingRequests || lease.pendingTokens) this.leftOver.push({ rule, start: lease.start, requests: lease.pendingRequests, tokens: lease.pendingTokens });
    lease.pendingRequests = 0;
    lease.pendingTokens = 0;
  }

  private slotLease(rule: RateRule): SlotLease {
    let lease = this.slots.get(rule.id);
    if (!lease) this.slots.set(rule.id, (lease = { held: 0, inUse: 0, lastUsed: 0, lastTopUp: 0, want: 1 }));
    return lease;
  }

  /** True when a lease must be topped up (or the window's state fetched) before deciding. */
  private short(rules: RateRule[], now: number): boolean {
    for (const rule of rules) {
      if (rule.seconds === CONCURRENT) {
        const s = this.slotLease(rule);
        if (s.inUse >= s.held) return true;
        continue;
      }
      const w = this.windowLease(rule, now);
      if (!w.synced || (rule.maxRequests !== null && w.available < 1)) return true;
    }
    return false;
  }

  private async admitAfterTopUp(userPath: string, keyId: string | null): Promise<Admission> {
    // Other requests may take from a lease while this one waits for a top-up, and the rules may
    // have been reloaded meanwhile: look both up again after each.
    for (;;) {
      const rules = this.covering(userPath, keyId);
      const now = Date.now();
      if (!this.short(rules, now)) return this.take(rules, now);
      const refused = await this.topUp(rules);
      if (refused) throw refused;
    }
  }

  private take(rules: RateRule[], now: number): Admission {
    const windows: Admission['windows'] = [];
    const slots: SlotLease[] = [];
    for (const rule of rules) {
      if (rule.seconds !== CONCURRENT) {
        const w = this.windows.get(rule.id)!;
        if (rule.maxTokens !== null && w.tokens + w.pendingTokens >= rule.maxTokens) throw this.exceeded(rule, 'tokens', w, now);
      }
    }
    let requests: { limit: number; remaining: number; end: number } | null = null;
    let tokens: { limit: number; remaining: number; end: number } | null = null;
    for (const rule of rules) {
      if (rule.seconds === CONCURRENT) {
        const s = this.slots.get(rule.id)!;
        s.inUse++;
        s.lastUsed = now;
        slots.push(s);
        continue;
      }
      const w = this.windows.get(rule.id)!;
      w.pendingRequests++;
      w.lastUsed = now;
      windows.push({ rule, lease: w });
      if (rule.maxRequests !== null) {
        w.available--;
        // Unused requests other processes hold count as used: the figure errs low, never high.
        const remaining = Math.max(0, rule.maxRequests - w.granted + w.available);
        if (!requests || remaining < requests.remaining) requests = { limit: rule.maxRequests, remaining, end: w.end };
      }
      if (rule.maxTokens !== null) {
        const remaining = Math.max(0, rule.maxTokens - w.tokens - w.pendingTokens);
        if (!tokens || remaining < tokens.remaining) tokens = { limit: rule.maxTokens, remaining, end: w.end };
      }
    }
    const headers: Record<string, string> = {};
    if (requests) {
      headers['x-ratelimit-limit-requests'] = String(requests.limit);
      headers['x-ratelimit-remaining-requests'] = String(requests.remaining);
      headers['x-ratelimit-reset-requests'] = resetDuration(requests.end - now);
    }
    if (tokens) {
      headers['x-ratelimit-limit-tokens'] = String(tokens.limit);
      headers['x-ratelimit-remaining-tokens'] = String(tokens.remaining);
      headers['x-ratelimit-reset-tokens'] = resetDuration(tokens.end - now);
    }
    return { windows, slots, headers };
  }

  private exceeded(rule: RateRule, what: 'requests' | 'tokens' | 'slots', w: WindowLease | null, now: number): GatewayError {
    const who = rule.scope === 'user_path' ? `user path ${rule.subject}` : `API key ${rule.subject}`;
    const period = rateLimitPeriodLabel(rule.seconds);
    const message =
      what === 'slots'
        ? `rate limit exceeded for ${who}: at most ${rule.maxRequests} requests in flight at once`
        : `rate limit exceeded for ${who}: ${what === 'requests' ? rule.maxRequests : rule.maxTokens} ${what} per ${period}`;
    const headers: Record<string, string> = { 'Retry-After': String(w ? Math.max(1, Math.ceil((w.end - now) / 1000)) : 1) };
    if (w) {
      const limit = what === 'requests' ? rule.maxRequests! : rule.maxTokens!;
      headers[`x-ratelimit-limit-${what}`] = String(limit);
      headers[`x-ratelimit-remaining-${what}`] = '0';
      headers[`x-ratelimit-reset-${what}`] = resetDuration(w.end - now);
    }
    return new GatewayError('rate_limit_error', 429, message, { code: 'rate_limit_exceeded', headers });
  }

  private unreachable(err: unknown): GatewayError {
    return new GatewayError('provider_error', 503, 'rate limits cannot be checked right now; the request was not sent', { code: 'rate_limit_check_failed', cause: err });
  }

  /** The next lease size: one request, doubled while top-ups follow each other within a second. */
  private nextWant(lease: { lastTopUp: number; want: number }, cap: number, now: number): number {
    lease.want = now - lease.lastTopUp < IDLE_MS ? Math.min(lease.want * 2, cap) : 1;
    lease.lastTopUp = now;
    return lease.want;
  }

  /**
   * Tops up the short leases of these rules in one transaction that locks their rule rows in key
   * order (so a grant reads every other process's committed grants). Resolves with the refusal
   * when a rule has nothing left; top-ups of one process run one at a time.
   */
  private topUp(rules: RateRule[]): Promise<GatewayError | null> {
    const run = this.topUps.then(() => this.topUpNow(rules));
    this.topUps = run.catch(() => {});
    return run;
  }

  private async topUpNow(rules: RateRule[]): Promise<GatewayError | null> {
    const now = Date.now();
    const windowed = rules.filter((r) => r.seconds !== CONCURRENT).map((rule) => ({ rule, lease: this.windowLease(rule, now) }));
    const shortWindows = windowed.filter(({ rule, lease }) => !lease.synced || (rule.maxRequests !== null && lease.available < 1));
    const shortSlots = rules.filter((r) => r.seconds === CONCURRENT).map((rule) => ({ rule, lease: this.slotLease(rule) })).filter(({ lease }) => lease.inUse >= lease.held);
    if (shortWindows.length === 0 && shortSlots.length === 0) return null;
    const wants = shortWindows.map(({ rule, lease }) => (rule.maxRequests === null ? 0 : this.nextWant(lease, Math.max(1, Math.ceil(rule.maxRequests / WINDOW_SHARE)), now)));
    const slotWants = shortSlots.map(({ rule, lease }) => this.nextWant(lease, Math.max(1, Math.ceil(rule.maxRequests! / SLOT_SHARE)), now));
    const all = [...shortWindows.map((w) => w.rule), ...shortSlots.map((s) => s.rule)].sort((a, b) => (a.id < b.id ? -1 : 1));
    let windowRows: { n: string; granted_now: string; granted: string; tokens: string }[] = [];
    let slotRows: { n: string; slots: string }[] = [];
    let stale = false;
    try {
      await this.sql.begin(async (tx) => {
        const current = await tx<Pick<RateLimitRecord, 'scope' | 'subject' | 'period_seconds' | 'max_requests' | 'max_tokens' | 'last_reset_at'>[]>`
          select r.scope, r.subject, r.period_seconds, r.max_requests, r.max_tokens, r.last_reset_at from rate_limits r
            join unnest(${all.map((r) => r.scope)}::text[], ${all.map((r) => r.subject)}::text[], ${all.map((r) => r.seconds)}::int[]) as k(scope, subject, period_seconds)
                 using (scope, subject, period_seconds)
           order by r.scope, r.subject, r.period_seconds for update of r`;
        // A rule changed or reset since this process loaded it (its notification is still on the
        // way): granting from the window it knows would count against a window nobody else uses.
        stale = current.some((c) => {
          const rule = all.find((r) => r.id === ruleId(c.scope, c.subject, c.period_seconds))!;
          return (c.last_reset_at?.getTime() ?? 0) !== rule.anchor || num(c.max_requests) !== rule.maxRequests || num(c.max_tokens) !== rule.maxTokens;
        });
        if (stale) return;
        if (shortWindows.length) {
          windowRows = await tx<typeof windowRows>`
            with want as (
              select * from unnest(${shortWindows.map((w) => w.rule.scope)}::text[], ${shortWindows.map((w) => w.rule.subject)}::text[],
                                   ${shortWindows.map((w) => w.rule.seconds)}::int[], ${shortWindows.map((w) => new Date(w.lease.start).toISOString())}::timestamptz[],
                                   ${wants}::bigint[]) with ordinality as x(scope, subject, period_seconds, window_start, want, n)
            ), cur as (
              select x.*, r.max_requests, coalesce(w.granted, 0) as granted
                from want x join rate_limits r using (scope, subject, period_seconds)
                left join rate_limit_windows w using (scope, subject, period_seconds, window_start)
            ), grants as (
              select *, case when max_requests is null then 0 else greatest(0, least(want, max_requests - granted)) end as taken from cur
            ), upserted as (
              insert into rate_limit_windows as w (scope, subject, period_seconds, window_start, granted)
              select scope, subject, period_seconds, window_start, taken from grants
              on conflict (scope, subject, period_seconds, window_start) do update set granted = w.granted + excluded.granted
              returning scope, subject, period_seconds, window_start, granted, tokens, requests
            )
            select g.n, g.taken as granted_now, u.granted, u.tokens
              from grants g join upserted u using (scope, subject, period_seconds, window_start)`;
        }
        if (shortSlots.length) {
          slotRows = await tx<typeof slotRows>`
            with want as (
              select * from unnest(${shortSlots.map((s) => s.rule.scope)}::text[], ${shortSlots.map((s) => s.rule.subject)}::text[],
                                   ${shortSlots.map((s) => s.lease.held)}::bigint[], ${shortSlots.map((s) => s.lease.inUse)}::bigint[], ${slotWants}::bigint[])
                with ordinality as x(scope, subject, mine, in_use, want, n)
            ), others as (
              select x.*, r.max_requests,
                     coalesce((select sum(l.slots) from rate_limit_leases l
                                where l.scope = x.scope and l.subject = x.subject and l.period_seconds = 0
                                  and l.holder <> ${this.holder} and l.expires_at > now()), 0) as held
                from want x join rate_limits r on r.scope = x.scope and r.subject = x.subject and r.period_seconds = 0
            ), grants as (
              select *, mine + greatest(0, least(want, max_requests - held - mine)) as slots from others
            ), upserted as (
              insert into rate_limit_leases (holder, scope, subject, period_seconds, slots, in_use, expires_at)
              select ${this.holder}, scope, subject, 0, slots, in_use, now() + ${`${this.opts.leaseTtlMs} milliseconds`}::interval from grants
              on conflict (holder, scope, subject, period_seconds) do update
                set slots = excluded.slots, in_use = excluded.in_use, expires_at = excluded.expires_at
            )
            select n, slots from grants`;
        }
      });
    } catch (err) {
      if (isUnavailable(err)) throw this.unreachable(err);
      throw err;
    }
    if (stale) {
      await this.refresh();
      return null;
    }
    return this.applyGrants(shortWindows, windowRows, shortSlots, slotRows, now);
  }

  private applyGrants(
    shortWindows: { rule: RateRule; lease: WindowLease }[],
    windowRows: { n: string; granted_now: string; granted: string; tokens: string }[],
    shortSlots: { rule: RateRule; lease: SlotLease }[],
    slotRows: { n: string; slots: string }[],
    now: number,
  ): GatewayError | null {
    let refused: GatewayError | null = null;
    const windowRow = new Map(windowRows.map((r) => [Number(r.n), r]));
    shortWindows.forEach(({ rule, lease }, i) => {
      const row = windowRow.get(i + 1);
      if (!row) return this.dropRule(rule);
      lease.available += Number(row.granted_now);
      lease.granted = Number(row.granted);
      lease.tokens = Number(row.tokens);
      lease.synced = true;
      if (rule.maxRequests !== null && lease.available < 1) refused ??= this.exceeded(rule, 'requests', lease, now);
    });
    const slotRow = new Map(slotRows.map((r) => [Number(r.n), r]));
    shortSlots.forEach(({ rule, lease }, i) => {
      const row = slotRow.get(i + 1);
      if (!row) return this.dropRule(rule);
      lease.held = Number(row.slots);
      if (lease.inUse >= lease.held) refused ??= this.exceeded(rule, 'slots', null, now);
    });
    return refused;
  }

  /** A rule deleted since the rules were loaded: it no longer applies here. */
  private dropRule(rule: RateRule): void {
    const map = rule.scope === 'user_path' ? this.byPath : this.byKey;
    const left = (map.get(rule.subject) ?? []).filter((r) => r.id !== rule.id);
    if (left.length) map.set(rule.subject, left);
    else map.delete(rule.subject);
  }

  /** Writes the counts pending now; a write already in flight is waited for first, so none is skipped. */
  async sync(): Promise<void> {
    while (this.syncing) await this.syncing;
    this.syncing = this.writeCounts().finally(() => (this.syncing = null));
    return this.syncing;
  }

  /**
   * Writes admitted requests and spent tokens of the windows in use and reads back their totals
   * across all processes, in one statement.
   */
  private async writeCounts(): Promise<void> {
    const now = Date.now();
    const counts: Counts[] = this.leftOver;
    this.leftOver = [];
    const live: { rule: RateRule; lease: WindowLease }[] = [];
    for (const rules of [...this.byPath.values(), ...this.byKey.values()]) {
      for (const rule of rules) {
        const lease = this.windows.get(rule.id);
        if (!lease || !lease.synced) continue;
        if (now >= lease.end) {
          this.leave(rule, lease);
          this.windows.delete(rule.id);
          continue;
        }
        // Nothing to write, and no token cap whose other replicas' spending matters here.
        if (lease.pendingRequests === 0 && lease.pendingTokens === 0 && (rule.maxTokens === null || now - lease.lastUsed > lease.end - lease.start)) continue;
        live.push({ rule, lease });
        counts.push({ rule, start: lease.start, requests: lease.pendingRequests, tokens: lease.pendingTokens });
        lease.pendingRequests = 0;
        lease.pendingTokens = 0;
      }
    }
    if (counts.length === 0) return;
    mergeCounts(counts);
    try {
      const rows = await this.sql<{ n: string; granted: string; tokens: string }[]>`
        with c as (
          select * from unnest(${counts.map((c) => c.rule.scope)}::text[], ${counts.map((c) => c.rule.subject)}::text[], ${counts.map((c) => c.rule.seconds)}::int[],
                               ${counts.map((c) => new Date(c.start).toISOString())}::timestamptz[], ${counts.map((c) => c.requests)}::bigint[], ${counts.map((c) => c.tokens)}::bigint[])
            with ordinality as x(scope, subject, period_seconds, window_start, requests, tokens, n)
        ), written as (
          insert into rate_limit_windows as w (scope, subject, period_seconds, window_start, requests, tokens)
          select c.scope, c.subject, c.period_seconds, c.window_start, c.requests, c.tokens
            from c join rate_limits r using (scope, subject, period_seconds)
          on conflict (scope, subject, period_seconds, window_start) do update
            set requests = w.requests + excluded.requests, tokens = w.tokens + excluded.tokens
          returning scope, subject, period_seconds, window_start, granted, tokens
        )
        select c.n, w.granted, w.tokens from c join written w using (scope, subject, period_seconds, window_start)`;
      const byN = new Map(rows.map((r) => [Number(r.n), r]));
      counts.forEach((c, i) => {
        const row = byN.get(i + 1);
        const lease = this.windows.get(c.rule.id);
        if (!row || !lease || lease.start !== c.start) return;
        lease.granted = Number(row.granted);
        lease.tokens = Number(row.tokens);
      });
    } catch (err) {
      if (isUnavailable(err)) {
        // Written next time: the counts are kept, not lost.
        this.leftOver.push(...counts);
      } else this.log.warn({ err: String(err) }, 'could not write rate limit counters');
    }
  }

  /** Renews concurrency leases, gives back idle headroom, and clears what dead processes and past windows left. */
  private async maintain(): Promise<void> {
    try {
      const mine = [...this.slots].filter(([, s]) => s.held > 0);
      if (mine.length) {
        await this.sql`
          update rate_limit_leases l set in_use = x.in_use, expires_at = now() + ${`${this.opts.leaseTtlMs} milliseconds`}::interval
            from unnest(${mine.map(([id]) => id.split('\0')[0]!)}::text[], ${mine.map(([id]) => id.split('\0')[1]!)}::text[], ${mine.map(([, s]) => s.inUse)}::bigint[]) as x(scope, subject, in_use)
           where l.holder = ${this.holder} and l.scope = x.scope and l.subject = x.subject and l.period_seconds = 0`;
      }
      await this.giveBackIdle(IDLE_MS);
      await this.sql`delete from rate_limit_leases where expires_at < now()`;
      await this.sql`
        delete from rate_limit_windows w using rate_limits r
         where r.scope = w.scope and r.subject = w.subject and r.period_seconds = w.period_seconds
           and w.window_start + make_interval(secs => 2 * r.period_seconds) < now()`;
    } catch (err) {
      this.log.warn({ err: String(err) }, 'rate limit lease maintenance failed');
    }
  }

  /** Gives back requests and slots of leases idle for `idleMs` (all of them with -1). */
  private async giveBackIdle(idleMs: number): Promise<void> {
    const now = Date.now();
    const windows = [...this.windows].filter(([, w]) => w.available > 0 && now - w.lastUsed > idleMs);
    const slots = [...this.slots].filter(([, s]) => s.held > s.inUse && now - s.lastUsed > idleMs);
    if (windows.length) {
      const back = windows.map(([id, w]) => ({ id, start: w.start, n: w.available }));
      for (const [, w] of windows) w.available = 0;
      await this.giveBackWindows(back);
    }
    if (slots.length) {
      const back = slots.map(([id, s]) => ({ id, keep: s.inUse }));
      for (const [, s] of slots) s.held = s.inUse;
      await this.sql`
        update rate_limit_leases l set slots = x.keep
          from unnest(${back.map((b) => b.id.split('\0')[0]!)}::text[], ${back.map((b) => b.id.split('\0')[1]!)}::text[], ${back.map((b) => b.keep)}::bigint[]) as x(scope, subject, keep)
         where l.holder = ${this.holder} and l.scope = x.scope and l.subject = x.subject and l.period_seconds = 0`;
    }
  }

  private async giveBackWindows(back: { id: string; start: number; n: number }[]): Promise<void> {
    const parts = back.map((b) => b.id.split('\0'));
    await this.sql`
      update rate_limit_windows w set granted = greatest(0, w.granted - x.n)
        from unnest(${parts.map((p) => p[0]!)}::text[], ${parts.map((p) => p[1]!)}::text[], ${parts.map((p) => Number(p[2]))}::int[],
                    ${back.map((b) => new Date(b.start).toISOString())}::timestamptz[], ${back.map((b) => b.n)}::bigint[]) as x(scope, subject, period_seconds, window_start, n)
       where w.scope = x.scope and w.subject = x.subject and w.period_seconds = x.period_seconds and w.window_start = x.window_start`;
  }

  /** Forgets the windows of rules that changed, giving back their unused requests. */
  private async dropWindows(changed: [RateRule, WindowLease][]): Promise<void> {
    const back = changed.filter(([, w]) => w.available > 0).map(([rule, w]) => ({ id: rule.id, start: w.start, n: w.available }));
    for (const [rule, w] of changed) {
      this.leave(rule, w);
      this.windows.delete(rule.id);
    }
    if (back.length) await this.giveBackWindows(back).catch(() => {});
  }
}

/**
 * Folds counts of the same window into one (in place, first occurrence kept): one statement may
 * not upsert a row twice, and requests finished after their lease was replaced, or a window
 * left twice, each add an entry of their own.
 */
function mergeCounts(counts: Counts[]): void {
  const first = new Map<string, Counts>();
  let kept = 0;
  for (const c of counts) {
    const key = `${c.rule.scope}\u0000${c.rule.subject}\u0000${c.rule.seconds}\u0000${c.start}`;
    const seen = first.get(key);
    if (seen) {
      seen.requests += c.requests;
      seen.tokens += c.tokens;
    } else {
      const own = { ...c };
      first.set(key, own);
      counts[kept++] = own;
    }
  }
  counts.length = kept;
}
