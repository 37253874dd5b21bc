import { randomUUID } from 'node:crypto';
import type { Sql } from '../db/sql.ts';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ProviderConfig } from '../providers/types.ts';
import { formatScaled } from '../usage/decimal.ts';
import { FEMTO_USD_DECIMALS, tierFor, type ModelPrice } from '../usage/model-price.ts';
import type { PriceBook } from '../usage/pricing.ts';
import { defaultSettings, naturalPeriod, periodLabel, type BudgetSettings } from './periods.ts';
import { BUDGETS_CHANNEL, type BudgetStore } from './store.ts';

export interface GuardOptions {
  unknownPrice: 'allow' | 'deny';
  /** How long a reservation may stay unsettled before it is given back (a crashed process). */
  reservationTtlMs: number;
  /** Output tokens assumed for a request that sets no `max_tokens` (BUDGET_MAX_OUTPUT_TOKENS). */
  defaultOutputTokens: number;
  anthropicDefaultMaxTokens: number;
}

/** Worst-case cost held for one request until its usage row settles it. */
export interface Reservation {
  id: string;
  /** USD, exact decimal. */
  amount: string;
}

/** Tokens an image part can cost at most on the providers we price (high detail, large tiles). */
const IMAGE_TOKENS = 2000;
const REFRESH_MS = 30_000;

/** Bytes are an upper bound on text tokens (a token is at least ~2 bytes of JSON), plus images. */
export function estimateInputTokens(body: Record<string, unknown>, bodyBytes: number): number {
  let images = 0;
  for (const m of (body.messages as { content?: unknown }[] | undefined) ?? []) {
    if (Array.isArray(m.content)) for (const part of m.content as { type?: string }[]) if (part?.type === 'image_url') images++;
  }
  return Math.ceil(bodyBytes / 2) + images * IMAGE_TOKENS;
}

/** Femto-dollars a request may cost at most, at the most expensive applicable rates. */
export function worstCaseCost(price: ModelPrice, inputTokens: number, outputTokens: number): bigint {
  const tier = price.tiers?.length ? tierFor(price.tiers, inputTokens) : undefined;
  const input = tier?.input ?? price.input;
  const write = tier?.cacheWrite ?? price.cacheWrite ?? 0n;
  const output = tier?.output ?? price.output;
  const reasoning = tier?.reasoningOutput ?? price.reasoningOutput ?? 0n;
  const inRate = write > input ? write : input;
  const outRate = reasoning > output ? reasoning : output;
  return BigInt(inputTokens) * inRate + BigInt(outputTokens) * outRate + (price.perRequest ?? 0n);
}

const isConnectionError = (err: unknown) => !/^[0-9A-Z]{5}$/.test(String((err as { code?: unknown }).code ?? '')) || /^(08|57P)/.test(String((err as { code?: unknown }).code));

const usd = (v: string | number) => `$${Number(v).toFixed(6).replace(/0+$/, '').replace(/\.$/, '')}`;

interface Verdict {
  user_path: string;
  period_seconds: number;
  amount: string;
  current_spent: string | null;
  reserved: string;
  ok: boolean;
}

/**
 * Enforces budgets before a provider is paid. Each request under a budgeted path reserves its
 * worst-case cost against every budget of its path, atomically in PostgreSQL; its usage row
 * settles the reservation when it is written. Budget keys and reset anchors are cached in memory
 * (reloaded on every change, announced by LISTEN/NOTIFY, and every 30 s), so requests on paths
 * without budgets never touch the database.
 */
export class BudgetGuard {
  private keys = new Map<string, number[]>();
  private settings: BudgetSettings = defaultSettings;
  private timer: NodeJS.Timeout | undefined;
  private unlisten: (() => Promise<void>) | undefined;

  constructor(
    /** A pool whose sessions commit asynchronously: a reservation lost in a database crash only frees headroom. */
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
    this.timer = setInterval(() => {
      void this.refresh().catch(() => {});
      void this.expire().catch(() => {});
    }, REFRESH_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.unlisten?.();
  }

  async refresh(): Promise<void> {
    const [records, settings] = await Promise.all([this.store.list(), this.store.settings()]);
    const keys = new Map<string, number[]>();
    for (const r of records) keys.set(r.user_path, [...(keys.get(r.user_path) ?? []), r.period_seconds]);
    this.keys = keys;
    this.settings = settings;
  }

  /** Budget keys covering a path: its own and its ancestors'. */
  private covering(userPath: string): { path: string; seconds: number }[] {
    const out: { path: string; seconds: number }[] = [];
    const add = (p: string) => {
      for (const seconds of this.keys.get(p) ?? []) out.push({ path: p, seconds });
    };
    add('/');
    for (let i = userPath.indexOf('/', 1); ; i = userPath.indexOf('/', i + 1)) {
      if (userPath !== '/') add(i < 0 ? userPath : userPath.slice(0, i));
      if (i < 0) break;
    }
    return out;
  }

  /**
   * Reserves the worst-case cost of a request, or refuses it: 429 `budget_exceeded` (with
   * Retry-After) when a budget of its path could be exceeded, 403 for an unpriced model under
   * BUDGET_UNKNOWN_PRICE=deny, 503 `budget_check_failed` when the budget store cannot be reached.
   * Returns null when no budget applies or the price is unknown and allowed.
   */
  async reserve(userPath: string, provider: ProviderConfig, model: string, body: Record<string, unknown>, bodyBytes: number): Promise<Reservation | null> {
    const keys = this.covering(userPath);
    if (keys.length === 0) return null;
    const price = this.prices.lookup(provider.type, provider.name, model);
    if (!price) {
      if (this.opts.unknownPrice === 'allow') return null;
      throw new GatewayError('invalid_request_error', 403, `no price is known for ${provider.name}/${model}, and budgets on ${userPath} refuse unpriced requests (BUDGET_UNKNOWN_PRICE=deny)`, {
        code: 'budget_price_unknown',
        param: 'model',
      });
    }
    const maxOutput = (body.max_completion_tokens ?? body.max_tokens) as number | null | undefined;
    const output = maxOutput ?? (provider.type === 'anthropic' ? this.opts.anthropicDefaultMaxTokens : this.opts.defaultOutputTokens);
    const amount = formatScaled(worstCaseCost(price, estimateInputTokens(body, bodyBytes), output), FEMTO_USD_DECIMALS);
    const now = Date.now();
    const periods = keys.map((k) => naturalPeriod(k.seconds, this.settings, now));
    const id = randomUUID();
    let verdicts: Verdict[];
    try {
      verdicts = await this.sql<Verdict[]>`
        with want as (
          select * from unnest(${keys.map((k) => k.path)}::text[], ${keys.map((k) => k.seconds)}::int[],
                               ${periods.map((p) => new Date(p.start).toISOString())}::timestamptz[]) as w(user_path, period_seconds, natural_start)
        ), locked as (
          select b.user_path, b.period_seconds, b.amount, b.spent, b.reserved, b.period_start,
                 case when b.last_reset_at > w.natural_start and b.last_reset_at <= now() then b.last_reset_at else w.natural_start end as start
            from budgets b join want w using (user_path, period_seconds)
           order by b.user_path, b.period_seconds
             for update of b
        ), state as (
          select *, case when period_start = start then spent else gm_subtree_spend(user_path, start) end as current_spent from locked
        ), verdict as (
          select coalesce(bool_and(coalesce(current_spent, 0) + reserved + ${amount}::numeric <= amount), true) as ok from state
        ), ledger as (
          update budgets b
             set period_start = s.start, spent = s.current_spent,
                 reserved = b.reserved + case when v.ok then ${amount}::numeric else 0 end
            from state s, verdict v
           where b.user_path = s.user_path and b.period_seconds = s.period_seconds
             and (v.ok or b.period_start is distinct from s.start)
        ), hold as (
          insert into budget_reservations (id, user_path, period_seconds, amount, expires_at)
          select ${id}, s.user_path, s.period_seconds, ${amount}::numeric, now() + ${`${this.opts.reservationTtlMs} milliseconds`}::interval
            from state s, verdict v where v.ok
        )
        select s.user_path, s.period_seconds, s.amount, s.current_spent, s.reserved, v.ok from state s, verdict v`;
    } catch (err) {
      if (!isConnectionError(err)) throw err;
      throw new GatewayError('provider_error', 503, `budgets of ${userPath} cannot be checked right now; the request was not sent`, {
        code: 'budget_check_failed',
        cause: err,
      });
    }
    if (verdicts.length === 0 || verdicts[0]!.ok) return verdicts.length ? { id, amount } : null;
    throw this.exceeded(verdicts, amount, keys, periods, now);
  }

  private exceeded(verdicts: Verdict[], amount: string, keys: { path: string; seconds: number }[], periods: { end: number }[], now: number): GatewayError {
    const failing = verdicts.filter((v) => Number(v.current_spent ?? 0) + Number(v.reserved) + Number(amount) > Number(v.amount));
    const endOf = (v: Verdict) => periods[keys.findIndex((k) => k.path === v.user_path && k.seconds === v.period_seconds)]?.end ?? now;
    const first = failing[0] ?? verdicts[0]!;
    const label = periodLabel(first.period_seconds);
    const tooBig = Number(amount) > Number(first.amount);
    const message = tooBig
      ? `budget exceeded for ${first.user_path} ${label} limit: this request may cost up to ${usd(amount)}, more than the whole budget of ${usd(first.amount)}; lower max_tokens`
      : `budget exceeded for ${first.user_path} ${label} limit: spent ${usd(first.current_spent ?? 0)}${Number(first.reserved) > 0 ? ` (+${usd(first.reserved)} in flight)` : ''} of ${usd(first.amount)}`;
    const retryAfter = Math.max(1, Math.ceil((Math.max(...failing.map(endOf)) - now) / 1000));
    return new GatewayError('rate_limit_error', 429, message, { code: 'budget_exceeded', headers: { 'Retry-After': String(retryAfter) } });
  }

  /** Gives back a reservation whose request ended without a usage row (it failed before tokens were spent). */
  release(reservation: Reservation): void {
    void this.giveBack([reservation.id]).catch((err) =>
      this.log.warn({ err: String(err), reservation: reservation.id }, 'could not release a budget reservation; it will expire'),
    );
  }

  /** Gives back reservations whose TTL passed (their process died before settling them). */
  async expire(): Promise<void> {
    const expired = await this.sql<{ id: string }[]>`select distinct id from budget_reservations where expires_at < now()`;
    if (expired.length) await this.giveBack(expired.map((r) => r.id));
  }

  private async giveBack(ids: string[]): Promise<void> {
    await this.sql.begin(async (tx) => {
      await tx`select 1 from budgets b where (b.user_path, b.period_seconds) in (
                 select user_path, period_seconds from budget_reservations where id = any(${ids}::uuid[]))
               order by b.user_path, b.period_seconds for update`;
      await tx`
        with gone as (delete from budget_reservations where id = any(${ids}::uuid[]) returning user_path, period_seconds, amount),
             held as (select user_path, period_seconds, sum(amount) as amount from gone group by 1, 2)
        update budgets b set reserved = greatest(0, b.reserved - held.amount)
          from held where b.user_path = held.user_path and b.period_seconds = held.period_seconds`;
    });
  }
}
