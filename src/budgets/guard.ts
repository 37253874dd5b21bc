import { randomUUID } from 'node:crypto';
import { isUnavailable, type Sql } from '../db/sql.ts';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ProviderConfig } from '../providers/types.ts';
import { formatScaled, parseDecimal, toScaledInteger } from '../usage/decimal.ts';
import { FEMTO_USD_DECIMALS, tierFor, type ModelPrice, type Rates } from '../usage/model-price.ts';
import type { PriceBook } from '../usage/pricing.ts';
import { Overruns, type Overrun } from './overruns.ts';
import { defaultSettings, naturalPeriod, periodLabel, type BudgetSettings } from './periods.ts';
import { BUDGETS_CHANNEL, type BudgetStore } from './store.ts';

export interface GuardOptions {
  unknownPrice: 'allow' | 'deny';
  /** How long a lease lives without renewal: a process that died gives its leases back after this. */
  leaseTtlMs: number;
  /** Output tokens assumed for a request that sets no `max_tokens` (BUDGET_MAX_OUTPUT_TOKENS). */
  defaultOutputTokens: number;
  anthropicDefaultMaxTokens: number;
}

/**
 * What a request took from its process's leases: its worst-case cost plus what requests like it
 * recently cost beyond theirs, from each budget of its path. 0 for an unpriced model whose replies
 * have cost nothing lately.
 */
export interface Reservation {
  /** The process's lease id, stored on the usage row so the row can settle what it took. */
  id: string;
  /** USD, exact decimal. */
  amount: string;
  femto: bigint;
  keys: string[];
  /** The request's own worst case, femto-USD (0 for an unpriced model). */
  base: bigint;
  /** Where what the request cost beyond `base` is learned. */
  overrun: Overrun;
}

/** Tokens an image part can cost at most on the providers we price (high detail, large tiles). */
const IMAGE_TOKENS = 2000;
const REFRESH_MS = 30_000;
const TICK_MS = 2000;
/** Headroom a lease asks for beyond the request at hand: this share of the budget. */
const LEASE_SHARE = 50n;
/** A lease unused this long gives its headroom back, for other processes to use. */
const IDLE_MS = 5000;

/** Bytes are an upper bound on text tokens (a token is at least ~2 bytes of JSON), plus images. */
function estimateInputTokens(body: Record<string, unknown>, bodyBytes: number): number {
  let images = 0;
  for (const m of (body.messages as { content?: unknown }[] | undefined) ?? []) {
    if (Array.isArray(m.content)) for (const part of m.content as { type?: string }[]) if (part?.type === 'image_url') images++;
  }
  return Math.ceil(bodyBytes / 2) + images * IMAGE_TOKENS;
}

const inputRates = ['input', 'cacheWrite', 'cacheWrite1h', 'audioInput', 'imageInput', 'videoInput'] as const;
const outputRates = ['output', 'reasoningOutput', 'audioOutput', 'imageOutput', 'videoOutput'] as const;

function highest(rates: Rates, fields: readonly (keyof Rates)[]): bigint {
  let max = 0n;
  for (const f of fields) if ((rates[f] ?? 0n) > max) max = rates[f]!;
  return max;
}

/**
 * Femto-dollars a request may cost at most: every input token at the dearest input rate (cache
 * writes, audio, images…), every output token at the dearest output rate. Web searches are per
 * search and none can be asked for through our translation, so they are left to what the path
 * learns (overruns.ts).
 */
function worstCaseCost(price: ModelPrice, inputTokens: number, outputTokens: number): bigint {
  const rates = price.tiers?.length ? tierFor(price.tiers, inputTokens)! : price;
  return BigInt(inputTokens) * highest(rates, inputRates) + BigInt(outputTokens) * highest(rates, outputRates) + (price.perRequest ?? 0n);
}

const femto = (usd: string | number) => toScaledInteger(parseDecimal(usd), FEMTO_USD_DECIMALS, true);
const usd = (v: string | number) => `$${Number(v).toFixed(6).replace(/0+$/, '').replace(/\.$/, '')}`;

interface BudgetKey {
  path: string;
  seconds: number;
  /** femto-USD */
  amount: bigint;
  key: string;
}

interface Lease {
  /** Headroom reserved in the database and not yet handed to a request, femto-USD. */
  available: bigint;
  lastUsed: number;
}

interface Grant {
  user_path: string;
  period_seconds: number;
  amount: string;
  current_spent: string | null;
  reserved: string;
  granted: string;
  ok: boolean;
}

/**
 * Enforces budgets before a provider is paid. Each process leases headroom from the budgets of
 * the paths it serves, in PostgreSQL, atomically with every other process; a request takes its
 * worst-case cost from the leases of every budget covering its path, locally, and the process
 * goes back to the database only when a lease runs short. A request's usage row settles what it
 * took. So the budget check costs a database round trip only every few dozen requests, and all
 * replicas together never commit more than a budget's amount.
 */
export class BudgetGuard {
  private keys = new Map<string, BudgetKey[]>();
  private settings: BudgetSettings = defaultSettings;
  private leases = new Map<string, Lease>();
  private readonly overruns = new Overruns();
  private readonly leaseId = randomUUID();
  private topUps: Promise<unknown> = Promise.resolve();
  private storeDown = false;
  private timers: NodeJS.Timeout[] = [];
  private unlisten: (() => Promise<void>) | undefined;

  constructor(
    /** A pool whose sessions commit asynchronously: a lease lost in a database crash only frees headroom. */
    private readonly sql: Sql,
    private readonly store: BudgetStore,
    private readonly prices: PriceBook,
    private readonly opts: GuardOptions,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.refresh();
    const { unlisten } = await this.sql.listen(BUDGETS_CHANNEL, () => void this.refresh().catch(() => {}));
    this.unlisten = unlisten;
    this.timers = [
      setInterval(() => void this.refresh().catch(() => {}), REFRESH_MS),
      setInterval(() => void this.tick(), TICK_MS),
    ];
    for (const t of this.timers) t.unref();
  }

  /** Gives back every lease's unused headroom. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.unlisten?.();
    await this.giveBackIdle(0).catch(() => {});
  }

  /** Reloads budget keys and anchors; leases of changed budgets are given back and taken again as needed. */
  async refresh(): Promise<void> {
    const [records, settings] = await Promise.all([this.store.list(), this.store.settings()]);
    const keys = new Map<string, BudgetKey[]>();
    for (const r of records) {
      const k = { path: r.user_path, seconds: r.period_seconds, amount: femto(r.amount), key: `${r.user_path}\0${r.period_seconds}` };
      keys.set(r.user_path, [...(keys.get(r.user_path) ?? []), k]);
    }
    const amountOf = (map: Map<string, BudgetKey[]>, key: string) => map.get(key.split('\0')[0]!)?.find((k) => k.key === key)?.amount;
    const changed = [...this.leases.keys()].filter((key) => amountOf(this.keys, key) !== amountOf(keys, key));
    this.keys = keys;
    this.settings = settings;
    if (changed.length) await this.giveBack(changed);
  }

  /** Renews this process's leases, gives back idle headroom and expired leases of dead processes. */
  private async tick(): Promise<void> {
    try {
      await this.sql`update budget_reservations set expires_at = now() + ${`${this.opts.leaseTtlMs} milliseconds`}::interval where id = ${this.leaseId}`;
      if (this.storeDown) {
        // Leases may have expired while the store was unreachable: start afresh.
        this.leases.clear();
        this.storeDown = false;
        this.log.info('budget store reachable again');
      }
      await this.giveBackIdle(IDLE_MS);
      await this.expire();
    } catch (err) {
      if (isUnavailable(err)) this.markDown(err);
      else this.log.warn({ err: String(err) }, 'budget lease maintenance failed');
    }
  }

  private markDown(err: unknown): void {
    if (!this.storeDown) this.log.warn({ err: String(err) }, 'budget store unreachable: requests on budgeted paths are refused');
    this.storeDown = true;
  }

  /** Budget keys covering a path: its own and its ancestors'. */
  private covering(userPath: string): BudgetKey[] {
    const out = [...(this.keys.get('/') ?? [])];
    if (userPath === '/') return out;
    for (let i = userPath.indexOf('/', 1); ; i = userPath.indexOf('/', i + 1)) {
      out.push(...(this.keys.get(i < 0 ? userPath : userPath.slice(0, i)) ?? []));
      if (i < 0) return out;
    }
  }

  /**
   * Takes what a request may cost from the leases of every budget covering its path, topping
   * leases up from the database when they run short; or refuses it: 429 `budget_exceeded` (with
   * Retry-After) when a budget could be exceeded, 403 for an unpriced model under
   * BUDGET_UNKNOWN_PRICE=deny, 503 `budget_check_failed` when the budget store cannot be reached.
   * Returns null when no budget applies.
   *
   * What it may cost is its own worst case (its input estimated from its size, its output cap for
   * each of its `n` choices, at the model's highest rates; 0 for an unpriced model) plus the
   * largest amount by which recent requests of the same budget path, provider and model cost
   * more than theirs (overruns.ts). The first request of such a key goes alone.
   *
   * Synchronous (a value, or a throw) when the leases hold enough, as they do for all but every
   * few dozen requests; a promise only when a lease must be topped up first or the key's first
   * request is still under way. The proxy path then waits for no promise before it sends the
   * request on.
   */
  reserve(userPath: string, provider: ProviderConfig, model: string, body: Record<string, unknown>, bodyBytes: number): Reservation | null | Promise<Reservation | null> {
    const keys = this.covering(userPath);
    if (keys.length === 0) return null;
    const price = this.prices.lookup(provider.type, provider.name, model);
    if (!price && this.opts.unknownPrice === 'deny') {
      throw new GatewayError('invalid_request_error', 403, `no price is known for ${provider.name}/${model}, and budgets on ${userPath} refuse unpriced requests (BUDGET_UNKNOWN_PRICE=deny)`, {
        code: 'budget_price_unknown',
        param: 'model',
      });
    }
    const overrun = this.overruns.of(`${keys[keys.length - 1]!.path}\0${provider.name}\0${model}`);
    const probing = overrun.learned === 0;
    if (probing && overrun.probe) return overrun.probe.then(() => this.reserve(userPath, provider, model, body, bodyBytes));
    const base = price ? worstCaseCost(price, estimateInputTokens(body, bodyBytes), this.outputTokens(provider, body)) : 0n;
    // A probe holds at least the smallest unit, so that it is refused once a budget is spent.
    const worst = base + overrun.margin > 0n ? base + overrun.margin : probing ? 1n : 0n;
    if (worst === 0n) return { id: this.leaseId, amount: '0', femto: 0n, keys: [], base, overrun };
    if (this.storeDown) throw this.unreachable(userPath);
    if (probing) overrun.startProbe();
    if (!this.short(keys, worst)) return this.take(keys, worst, base, overrun);
    return this.reserveAfterTopUp(keys, worst, userPath, base, overrun);
  }

  /** Output tokens a request may produce: its cap (or the configured default) for each of its `n` choices. */
  private outputTokens(provider: ProviderConfig, body: Record<string, unknown>): number {
    const maxOutput = (body.max_completion_tokens ?? body.max_tokens) as number | null | undefined;
    const each = maxOutput ?? (provider.type === 'anthropic' ? this.opts.anthropicDefaultMaxTokens : this.opts.defaultOutputTokens);
    return typeof body.n === 'number' && body.n > 1 ? each * body.n : each;
  }

  private short(keys: BudgetKey[], worst: bigint): boolean {
    for (const k of keys) if (this.available(k) < worst) return true;
    return false;
  }

  private async reserveAfterTopUp(keys: BudgetKey[], worst: bigint, userPath: string, base: bigint, overrun: Overrun): Promise<Reservation | null> {
    let covered = keys;
    try {
      // Other requests may take from a lease while this one waits for a top-up: check again after.
      while (this.short(covered, worst)) {
        const gone = await this.topUp(covered, worst, userPath);
        if (gone.size) covered = covered.filter((k) => !gone.has(k.key));
      }
    } catch (err) {
      // A refused probe learned nothing: the next request of its key probes instead.
      overrun.endProbe();
      throw err;
    }
    const reservation = this.take(covered, worst, base, overrun);
    if (!reservation) overrun.endProbe();
    return reservation;
  }

  private take(keys: BudgetKey[], worst: bigint, base: bigint, overrun: Overrun): Reservation | null {
    if (keys.length === 0) return null;
    const now = Date.now();
    for (const k of keys) {
      const lease = this.leases.get(k.key)!;
      lease.available -= worst;
      lease.lastUsed = now;
    }
    return { id: this.leaseId, amount: formatScaled(worst, FEMTO_USD_DECIMALS), femto: worst, keys: keys.map((k) => k.key), base, overrun };
  }

  /** Learns from a request's usage row (its `total_cost`) what it cost beyond its own worst case. */
  settled(reservation: Reservation, totalCost: string | null): void {
    reservation.overrun.add((totalCost === null ? 0n : femto(totalCost)) - reservation.base);
  }

  /** Puts back what a request took when it ended without a usage row: the provider refused it or was never reached. */
  release(reservation: Reservation): void {
    reservation.overrun.endProbe();
    // The database still holds what the request took; if the lease was given back meanwhile, this
    // makes it available again so the next give-back returns it.
    for (const key of reservation.keys) {
      const lease = this.leases.get(key) ?? { available: 0n, lastUsed: 0 };
      lease.available += reservation.femto;
      this.leases.set(key, lease);
    }
  }

  private available(k: BudgetKey): bigint {
    return this.leases.get(k.key)?.available ?? 0n;
  }

  private unreachable(userPath: string): GatewayError {
    return new GatewayError('provider_error', 503, `budgets of ${userPath} cannot be checked right now; the request was not sent`, { code: 'budget_check_failed' });
  }

  /**
   * Tops up the leases too short for `worst`, all or nothing, in one statement that locks the
   * budget rows in key order. Each lease gets what it lacks, plus up to a fiftieth of its budget
   * when that much is free. Top-ups of one process run one at a time. Resolves with the keys of
   * budgets that no longer exist.
   */
  private topUp(keys: BudgetKey[], worst: bigint, userPath: string): Promise<Set<string>> {
    const run = this.topUps.then(async () => {
      const short = keys.filter((k) => this.available(k) < worst);
      if (short.length === 0) return new Set<string>();
      const now = Date.now();
      const periods = short.map((k) => naturalPeriod(k.seconds, this.settings, now));
      const need = short.map((k) => worst - this.available(k));
      const want = short.map((k, i) => (k.amount / LEASE_SHARE > need[i]! ? k.amount / LEASE_SHARE : need[i]!));
      let grants: Grant[];
      try {
        grants = await this.sql<Grant[]>`
          with want as (
            select * from unnest(${short.map((k) => k.path)}::text[], ${short.map((k) => k.seconds)}::int[],
                                 ${periods.map((p) => new Date(p.start).toISOString())}::timestamptz[],
                                 ${need.map((n) => formatScaled(n, FEMTO_USD_DECIMALS))}::numeric[],
                                 ${want.map((w) => formatScaled(w, FEMTO_USD_DECIMALS))}::numeric[])
              as w(user_path, period_seconds, natural_start, need, want)
          ), locked as (
            select b.user_path, b.period_seconds, b.amount, b.spent, b.reserved, b.period_start, w.need, w.want,
                   case when b.last_reset_at > w.natural_start and b.last_reset_at <= now() then b.last_reset_at else w.natural_start end as start
              from budgets b join want w using (user_path, period_seconds)
             order by b.user_path, b.period_seconds
               for update of b
          ), state as (
            select *, case when period_start = start then spent else gm_subtree_spend(user_path, start) end as current_spent from locked
          ), grants as (
            select *, greatest(0, least(want, amount - coalesce(current_spent, 0) - reserved)) as granted from state
          ), verdict as (
            select coalesce(bool_and(granted >= need), true) as ok from grants
          ), ledger as (
            update budgets b
               set period_start = g.start, spent = g.current_spent,
                   reserved = b.reserved + case when v.ok then g.granted else 0 end
              from grants g, verdict v
             where b.user_path = g.user_path and b.period_seconds = g.period_seconds
               and (v.ok or b.period_start is distinct from g.start)
          ), lease as (
            insert into budget_reservations (id, user_path, period_seconds, amount, expires_at)
            select ${this.leaseId}, g.user_path, g.period_seconds, g.granted, now() + ${`${this.opts.leaseTtlMs} milliseconds`}::interval
              from grants g, verdict v where v.ok
            on conflict (id, user_path, period_seconds) do update
              set amount = budget_reservations.amount + excluded.amount, expires_at = excluded.expires_at
          )
          select g.user_path, g.period_seconds, g.amount, g.current_spent, g.reserved, g.granted, v.ok from grants g, verdict v`;
      } catch (err) {
        if (!isUnavailable(err)) throw err;
        this.markDown(err);
        throw this.unreachable(userPath);
      }
      if (grants.length && !grants[0]!.ok) throw this.exceeded(grants, worst, short, periods, now);
      const gone = new Set(short.map((k) => k.key));
      for (const g of grants) {
        const key = `${g.user_path}\0${g.period_seconds}`;
        gone.delete(key);
        const lease = this.leases.get(key) ?? { available: 0n, lastUsed: now };
        lease.available += femto(g.granted);
        this.leases.set(key, lease);
      }
      return gone;
    });
    this.topUps = run.catch(() => {});
    return run;
  }

  private exceeded(grants: Grant[], worst: bigint, keys: BudgetKey[], periods: { end: number }[], now: number): GatewayError {
    const need = (g: Grant) => worst - this.available(keys.find((k) => k.path === g.user_path && k.seconds === g.period_seconds)!);
    const failing = grants.filter((g) => femto(g.granted) < need(g));
    const endOf = (g: Grant) => periods[keys.findIndex((k) => k.path === g.user_path && k.seconds === g.period_seconds)]?.end ?? now;
    const first = failing[0] ?? grants[0]!;
    const label = periodLabel(first.period_seconds);
    const amount = formatScaled(worst, FEMTO_USD_DECIMALS);
    const message =
      worst > femto(first.amount)
        ? `budget exceeded for ${first.user_path} ${label} limit: this request may cost up to ${usd(amount)}, more than the whole budget of ${usd(first.amount)}; lower max_tokens`
        : `budget exceeded for ${first.user_path} ${label} limit: spent ${usd(first.current_spent ?? 0)}${Number(first.reserved) > 0 ? ` (+${usd(first.reserved)} held for requests in flight)` : ''} of ${usd(first.amount)}`;
    const retryAfter = Math.max(1, Math.ceil((Math.max(...failing.map(endOf)) - now) / 1000));
    return new GatewayError('rate_limit_error', 429, message, { code: 'budget_exceeded', headers: { 'Retry-After': String(retryAfter) } });
  }

  /** Gives back the unused headroom of leases idle for `idleMs` (all of them with 0). */
  private giveBackIdle(idleMs: number): Promise<void> {
    const now = Date.now();
    const idle = [...this.leases].filter(([, l]) => l.available > 0n && now - l.lastUsed >= idleMs).map(([key]) => key);
    return idle.length ? this.giveBack(idle) : Promise.resolve();
  }

  /** Returns the unused headroom of these leases to their budgets. */
  private async giveBack(keys: string[]): Promise<void> {
    const back = keys.map((key) => ({ key, amount: this.leases.get(key)?.available ?? 0n })).filter((b) => b.amount > 0n);
    for (const b of back) this.leases.delete(b.key);
    if (back.length === 0) return;
    const paths = back.map((b) => b.key.split('\0')[0]!);
    const seconds = back.map((b) => Number(b.key.split('\0')[1]));
    const amounts = back.map((b) => formatScaled(b.amount, FEMTO_USD_DECIMALS));
    await this.sql.begin(async (tx) => {
      await tx`select 1 from budgets b join unnest(${paths}::text[], ${seconds}::int[]) as k(user_path, period_seconds) using (user_path, period_seconds)
               order by b.user_path, b.period_seconds for update of b`;
      await tx`
        with back as (select * from unnest(${paths}::text[], ${seconds}::int[], ${amounts}::numeric[]) as k(user_path, period_seconds, amount)),
             lease as (update budget_reservations r set amount = r.amount - back.amount from back
                        where r.id = ${this.leaseId} and r.user_path = back.user_path and r.period_seconds = back.period_seconds
                        returning r.user_path, r.period_seconds, back.amount)
        update budgets b set reserved = greatest(0, b.reserved - lease.amount)
          from lease where b.user_path = lease.user_path and b.period_seconds = lease.period_seconds`;
    });
  }

  /** Gives back the leases of processes that stopped renewing them, and drops empty ones. */
  async expire(): Promise<void> {
    await this.sql.begin(async (tx) => {
      const gone = await tx<{ user_path: string; period_seconds: number }[]>`
        select distinct user_path, period_seconds from budget_reservations where expires_at < now() or amount <= 0`;
      if (gone.length === 0) return;
      await tx`select 1 from budgets b join unnest(${gone.map((g) => g.user_path)}::text[], ${gone.map((g) => g.period_seconds)}::int[]) as k(user_path, period_seconds)
                 using (user_path, period_seconds) order by b.user_path, b.period_seconds for update of b`;
      await tx`
        with gone as (delete from budget_reservations where expires_at < now() or amount <= 0 returning user_path, period_seconds, amount),
             held as (select user_path, period_seconds, sum(greatest(amount, 0)) as amount from gone group by 1, 2)
        update budgets b set reserved = greatest(0, b.reserved - held.amount)
          from held where b.user_path = held.user_path and b.period_seconds = held.period_seconds`;
    });
  }
}
