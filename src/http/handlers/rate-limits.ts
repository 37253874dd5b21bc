import { GatewayError, invalidRequest, notFound } from '../../errors.ts';
import type { AuthKeyStore } from '../../keys/store.ts';
import { rateLimitPeriod } from '../../config.ts';
import { CONCURRENT, rateLimitPeriodLabel, type RateLimitScope } from '../../ratelimits/rules.ts';
import type { RateLimitKey, RateLimitState, RateLimitStore } from '../../ratelimits/store.ts';
import type { RateLimiter } from '../../ratelimits/limiter.ts';
import type { Handler, HandlerContext } from '../context.ts';
import { isUuid, periodOf as periodOfKey, requireResetConfirmation, userPathOf } from './admin-input.ts';

export interface RateLimitDeps {
  store: RateLimitStore;
  /** null when RATE_LIMITS_ENABLED=false. */
  limiter: RateLimiter | null;
  keys: AuthKeyStore;
  now?: () => number;
}

interface KeyBody {
  scope?: RateLimitScope;
  subject?: string;
  user_path?: string;
}


const unavailable = () => new GatewayError('invalid_request_error', 503, 'rate limits feature is unavailable', { code: 'feature_unavailable' });

const periodOf = (period: unknown, seconds: unknown, where: string) => periodOfKey(period, seconds, where, rateLimitPeriod, 'minute, hour, day, week or concurrent');

function subjectOf(b: KeyBody): { scope: RateLimitScope; subject: string } {
  const scope = b.scope ?? 'user_path';
  if (scope === 'auth_key') {
    if (!isUuid(b.subject)) throw invalidRequest('subject must be the id of a managed API key', 'subject');
    return { scope, subject: b.subject.toLowerCase() };
  }
  if (b.user_path !== undefined && b.subject !== undefined && b.user_path !== b.subject) throw invalidRequest('give user_path or subject, not two different paths', 'user_path');
  return { scope, subject: userPathOf(b.user_path ?? b.subject) };
}

const iso = (ms: number) => new Date(ms).toISOString();

function status(s: RateLimitState) {
  const r = s.record;
  const maxRequests = r.max_requests === null ? null : Number(r.max_requests);
  const maxTokens = r.max_tokens === null ? null : Number(r.max_tokens);
  const used = r.period_seconds === CONCURRENT ? s.inFlight : s.requests;
  return {
    scope: r.scope,
    subject: r.subject,
    ...(r.scope === 'user_path' ? { user_path: r.subject } : {}),
    period_seconds: r.period_seconds,
    period_label: rateLimitPeriodLabel(r.period_seconds),
    max_requests: maxRequests,
    max_tokens: maxTokens,
    source: r.source,
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
    ...(s.window ? { window_start: iso(s.window.start), window_end: iso(s.window.end) } : {}),
    requests_used: used,
    ...(maxRequests !== null ? { requests_remaining: Math.max(0, maxRequests - used) } : {}),
    tokens_used: s.tokens,
    ...(maxTokens !== null ? { tokens_remaining: Math.max(0, maxTokens - s.tokens) } : {}),
    in_flight: s.inFlight,
  };
}

/** Whether a rule applies to a caller: a rule of its path or an ancestor's, or of its key. */
export function appliesTo(s: RateLimitState, userPath: string, keyId: string | null): boolean {
  const { scope, subject } = s.record;
  if (scope === 'auth_key') return subject === keyId;
  return subject === '/' || userPath === subject || userPath.startsWith(`${subject}/`);
}

/** A rule as GET /v1/usage shows it to the caller. */
export function selfServiceStatus(s: RateLimitState, now: number) {
  const full = status(s);
  const { max_requests: maxRequests, max_tokens: maxTokens } = full;
  return {
    scope: full.scope,
    subject: full.subject,
    ...(full.user_path !== undefined ? { user_path: full.user_path } : {}),
    period_seconds: full.period_seconds,
    period_label: full.period_label,
    max_requests: maxRequests,
    max_tokens: maxTokens,
    requests_used: full.requests_used,
    ...(maxRequests !== null ? { requests_remaining: full.requests_remaining, requests_usage_ratio: full.requests_used / maxRequests } : {}),
    tokens_used: full.tokens_used,
    ...(maxTokens !== null ? { tokens_remaining: full.tokens_remaining, tokens_usage_ratio: full.tokens_used / maxTokens } : {}),
    in_flight: full.in_flight,
    ...(s.window ? { window_start: full.window_start, window_end: full.window_end, resets_in_seconds: Math.max(0, Math.ceil((s.window.end - now) / 1000)) } : {}),
    exhausted: (maxRequests !== null && full.requests_used >= maxRequests) || (maxTokens !== null && full.tokens_used >= maxTokens),
  };
}

export function rateLimitHandlers(deps: RateLimitDeps) {
  const { store, limiter } = deps;
  const now = deps.now ?? Date.now;

  async function list() {
    const at = now();
    return { body: { rate_limits: (await store.states(at)).map(status), server_time: iso(at) } };
  }

  /** Runs an admin operation, reloading this replica's rules after a change (others reload on the notification). */
  const admin =
    (run: (ctx: HandlerContext) => Promise<{ body: unknown }>, changes = true): Handler =>
    async (ctx) => {
      if (!limiter) throw unavailable();
      const reply = await run(ctx);
      if (changes) await limiter.refresh();
      return reply;
    };

  async function keyOf(b: KeyBody, period: unknown, seconds: unknown, where: string): Promise<RateLimitKey> {
    const { scope, subject } = subjectOf(b);
    if (scope === 'auth_key' && !(await deps.keys.get(subject))) throw invalidRequest(`no API key with id ${subject}`, 'subject', 'auth_key_not_found');
    return { scope, subject, periodSeconds: periodOf(period, seconds, where) };
  }

  const missing = (k: RateLimitKey) => notFound(`no ${rateLimitPeriodLabel(k.periodSeconds)} rate limit for ${k.scope} ${k.subject}`, 'rate_limit_not_found');

  const listRateLimits = admin(list, false);

  const upsertRateLimit = admin(async (ctx) => {
    const b = ctx.body as KeyBody & { limit_key: { period?: unknown; period_seconds?: unknown }; max_requests?: number | null; max_tokens?: number | null };
    const key = await keyOf(b, b.limit_key.period, b.limit_key.period_seconds, 'limit_key');
    const maxRequests = b.max_requests ?? null;
    const maxTokens = b.max_tokens ?? null;
    if (maxRequests === null && maxTokens === null) throw invalidRequest('give max_requests, max_tokens or both', 'max_requests');
    if (key.periodSeconds === CONCURRENT && (maxTokens !== null || maxRequests === null)) {
      throw invalidRequest('a concurrent limit caps requests in flight: give max_requests only', 'max_tokens');
    }
    await store.upsert(key, maxRequests, maxTokens, 'manual');
    return list();
  });

  const deleteRateLimit = admin(async (ctx) => {
    const b = ctx.body as KeyBody & { limit_key: { period?: unknown; period_seconds?: unknown } };
    const key = await keyOf(b, b.limit_key.period, b.limit_key.period_seconds, 'limit_key');
    if (!(await store.remove(key))) throw missing(key);
    return list();
  });

  const resetRateLimit = admin(async (ctx) => {
    const b = ctx.body as KeyBody & { period?: unknown; period_seconds?: unknown };
    const key = await keyOf(b, b.period, b.period_seconds, '');
    if (!(await store.reset(key))) throw missing(key);
    return list();
  });

  const resetAllRateLimits = admin(async (ctx) => {
    requireResetConfirmation(ctx.body);
    await store.reset();
    return { body: { status: 'ok' } };
  });

  return { listRateLimits, upsertRateLimit, deleteRateLimit, resetRateLimit, resetAllRateLimits };
}
