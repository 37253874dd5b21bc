/** What a rate limit covers: a user-path subtree, or the requests of one managed key. */
export type RateLimitScope = 'user_path' | 'auth_key';

/** A rate limit rule as the limiter uses it. `seconds` 0 caps requests in flight. */
export interface RateRule {
  scope: RateLimitScope;
  subject: string;
  seconds: number;
  maxRequests: number | null;
  maxTokens: number | null;
  /** Windows start at this instant plus whole periods: the last reset, or the epoch. */
  anchor: number;
  /** scope, subject and period joined: the rule's identity. */
  id: string;
}

export const CONCURRENT = 0;

export function rateLimitPeriodLabel(seconds: number): string {
  switch (seconds) {
    case CONCURRENT: return 'concurrent';
    case 1: return 'second';
    case 60: return 'minute';
    case 3600: return 'hour';
    case 86_400: return 'day';
    case 604_800: return 'week';
    default: return `${seconds}s`;
  }
}

export const ruleId = (scope: string, subject: string, seconds: number) => `${scope}\0${subject}\0${seconds}`;

/** The window holding `now`: [start, end) in ms. */
export function windowOf(rule: Pick<RateRule, 'seconds' | 'anchor'>, now: number): { start: number; end: number } {
  const ms = rule.seconds * 1000;
  const start = rule.anchor + Math.floor((now - rule.anchor) / ms) * ms;
  return { start, end: start + ms };
}

/** A duration as OpenAI's x-ratelimit-reset-* headers write it: `20ms`, `1s`, `6m0s`, `1h2m3s`. */
export function resetDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const total = Math.ceil(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h ? `${h}h${m}m${s}s` : m ? `${m}m${s}s` : `${s}s`;
}
