import type { BreakerSettings } from '../config.ts';

export type BreakerState = 'closed' | 'open' | 'half_open';

/** One provider and model's breaker; a closed one with no failures is not kept. */
interface Breaker {
  state: BreakerState;
  failures: number;
  successes: number;
  openUntil: number;
  /** A half-open breaker lets one request through at a time. */
  probing: boolean;
  lastError: string;
  lastFailureAt: number;
}

export interface BreakerView {
  model: string;
  state: BreakerState;
  consecutive_failures: number;
  last_error: string;
  last_failure_at: string | null;
  /** When an open breaker lets its probe through. */
  retry_at: string | null;
}

/** Breakers kept per provider at most: model names come from clients. */
const MAX_TRACKED = 1024;
/** Latencies kept per provider for the percentiles. */
const RESERVOIR = 512;

/**
 * The health a process has seen of one provider: a circuit breaker per model and the latencies of
 * its recent answers (time to the response headers) in a ring. In memory, per process: a breaker
 * reacts to what this process sees within one request, which a shared store could only do with a
 * round trip per request; every replica opens its own breakers after its own N failures.
 */
export class ProviderHealth {
  private readonly breakers = new Map<string, Breaker>();
  private readonly latencies = new Float64Array(RESERVOIR);
  private count = 0;
  lastError = '';
  lastErrorAt = 0;
  lastSuccessAt = 0;
  successes = 0;
  failures = 0;

  constructor(
    readonly provider: string,
    private readonly settings: BreakerSettings,
  ) {}

  /**
   * Whether a request to `model` may go now. An open breaker whose cool-down is over becomes half
   * open and lets this one request through as its probe; others skip it until the probe answers.
   */
  allows(model: string, now: number): boolean {
    const b = this.breakers.get(model);
    if (!b || b.state === 'closed') return true;
    if (b.state === 'open') {
      if (now < b.openUntil) return false;
      b.state = 'half_open';
      b.successes = 0;
    }
    if (b.probing) return false;
    b.probing = true;
    return true;
  }

  succeeded(model: string, latencyMs: number, now: number): void {
    this.latencies[this.count++ % RESERVOIR] = latencyMs;
    this.successes++;
    this.lastSuccessAt = now;
    const b = this.breakers.get(model);
    if (!b) return;
    if (b.state === 'half_open') {
      b.probing = false;
      if (++b.successes < this.settings.successThreshold) return;
    }
    this.breakers.delete(model);
  }

  failed(model: string, error: string, now: number): void {
    this.failures++;
    this.lastError = error;
    this.lastErrorAt = now;
    let b = this.breakers.get(model);
    if (!b) {
      if (this.breakers.size >= MAX_TRACKED) return;
      b = { state: 'closed', failures: 0, successes: 0, openUntil: 0, probing: false, lastError: '', lastFailureAt: 0 };
      this.breakers.set(model, b);
    }
    b.lastError = error;
    b.lastFailureAt = now;
    b.probing = false;
    if (b.state === 'half_open' || ++b.failures >= this.settings.failureThreshold) {
      b.state = 'open';
      b.failures = Math.max(b.failures, this.settings.failureThreshold);
      b.openUntil = now + this.settings.openMs;
    }
  }

  /** An attempt that ended neither way (a 429, the client leaving): a half-open breaker may probe again. */
  neutral(model: string): void {
    const b = this.breakers.get(model);
    if (b) b.probing = false;
  }

  /** Seconds until an open breaker lets its probe through (at least 1). */
  retryAfterSeconds(model: string, now: number): number {
    const b = this.breakers.get(model);
    return Math.max(1, Math.ceil(((b?.openUntil ?? now) - now) / 1000));
  }

  /** Breakers that are not closed and clean, by model. */
  views(now: number): BreakerView[] {
    return [...this.breakers].map(([model, b]) => ({
      model,
      state: b.state === 'open' && now >= b.openUntil ? 'half_open' : b.state,
      consecutive_failures: b.failures,
      last_error: b.lastError,
      last_failure_at: new Date(b.lastFailureAt).toISOString(),
      retry_at: b.state === 'open' ? new Date(b.openUntil).toISOString() : null,
    }));
  }

  /** Latency percentiles (ms) of the recent answers; null before any. */
  percentiles(): { p50: number; p95: number; p99: number; samples: number } | null {
    const n = Math.min(this.count, RESERVOIR);
    if (n === 0) return null;
    const sorted = this.latencies.slice(0, n).sort();
    const at = (q: number) => Math.round(sorted[Math.min(n - 1, Math.floor(q * n))]! * 10) / 10;
    return { p50: at(0.5), p95: at(0.95), p99: at(0.99), samples: n };
  }

  /** 0 closed, 1 open, 2 half open, per model with a breaker, for the metrics gauge. */
  *states(): Generator<[model: string, state: number]> {
    for (const [model, b] of this.breakers) yield [model, b.state === 'closed' ? 0 : b.state === 'open' ? 1 : 2];
  }
}

/** The health of every provider this process has sent to, by provider name. */
export class ProviderHealthBook {
  private readonly byName = new Map<string, ProviderHealth>();

  constructor(readonly settings: BreakerSettings) {}

  of(provider: string): ProviderHealth {
    let h = this.byName.get(provider);
    if (!h) {
      h = new ProviderHealth(provider, this.settings);
      this.byName.set(provider, h);
    }
    return h;
  }

  get(provider: string): ProviderHealth | undefined {
    return this.byName.get(provider);
  }
}
