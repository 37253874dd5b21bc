import type { KeyRest } from '../config.ts';
import type { Logger } from '../log.ts';
import type { ProviderConfig, ProviderType } from './types.ts';

/** A rest shorter than this would let a key answering `Retry-After: 0` be picked again in the same request. */
const MIN_REST_MS = 1000;
/** A provider's Retry-After is believed up to this long; past it, the key is tried again anyway. */
const MAX_RETRY_AFTER_MS = 3_600_000;

/** The header each provider type takes its key in, and what goes before the key. */
export function credentialHeader(type: ProviderType): readonly [name: string, prefix: string] {
  if (type === 'anthropic') return ['x-api-key', ''];
  if (type === 'gemini') return ['x-goog-api-key', ''];
  return ['authorization', 'Bearer '];
}

/** What logs and admin replies show of a provider key: its first three and last four characters, or nothing of a short one. */
export function redactedKey(key: string): string {
  return key.length >= 16 ? `${key.slice(0, 3)}…${key.slice(-4)}` : '…';
}

/** Seconds or an HTTP date, as a delay from `now` in ms; NaN when absent or unreadable. */
function retryAfterMs(value: string | undefined, now: number): number {
  if (value === undefined) return NaN;
  const seconds = Number(value);
  if (value.trim() !== '' && Number.isFinite(seconds)) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? NaN : at - now;
}

/**
 * The keys of one provider and which of them rest. Requests take the keys in turn; a key the
 * provider refused (401/403) or rate limited (429) is skipped until its rest ends. When every key
 * rests, the one rested longest ago is used rather than refusing the request. Picking a key is an
 * index walk over typed arrays: the header values are built once, here.
 */
export class KeyPool {
  /** The credential header's value for each key. */
  readonly values: string[];
  readonly header: string;
  private next = 0;
  /** When each key's rest ends (ms since the epoch); 0 when it does not rest. */
  private readonly until: Float64Array;
  /** When each key last began to rest. */
  private readonly restedAt: Float64Array;
  /** Keys whose refusal (401/403) was logged: once per key. */
  private readonly warned: Uint8Array;

  constructor(
    private readonly provider: ProviderConfig,
    private readonly keys: readonly string[],
    private readonly rest: KeyRest,
    private readonly log: Logger | undefined,
  ) {
    const [header, prefix] = credentialHeader(provider.type);
    this.header = header;
    this.values = keys.map((k) => prefix + k);
    this.until = new Float64Array(keys.length);
    this.restedAt = new Float64Array(keys.length);
    this.warned = new Uint8Array(keys.length);
  }

  get size(): number {
    return this.values.length;
  }

  /** The next key in turn that does not rest, else the one rested longest ago. */
  pick(now: number): number {
    const n = this.values.length;
    for (let i = 0; i < n; i++) {
      const k = this.next;
      this.next = k + 1 === n ? 0 : k + 1;
      if (this.until[k]! <= now) return k;
    }
    let oldest = 0;
    for (let k = 1; k < n; k++) if (this.restedAt[k]! < this.restedAt[oldest]!) oldest = k;
    return oldest;
  }

  /** A key that does not rest, or -1 when all do. */
  available(now: number): number {
    const n = this.values.length;
    for (let i = 0; i < n; i++) {
      const k = this.next;
      this.next = k + 1 === n ? 0 : k + 1;
      if (this.until[k]! <= now) return k;
    }
    return -1;
  }

  /** The provider answered `status` (401, 403 or 429) to key `k`: it rests. */
  refused(k: number, status: number, retryAfter: string | undefined, now: number): void {
    let ms: number;
    if (status === 429) {
      const asked = retryAfterMs(retryAfter, now);
      ms = Number.isFinite(asked) ? Math.min(asked, MAX_RETRY_AFTER_MS) : this.rest.rateLimitedMs;
    } else {
      ms = this.rest.refusedMs;
      if (!this.warned[k]) {
        this.warned[k] = 1;
        this.log?.warn(
          { provider: this.provider.name, key: k + 1, redacted: redactedKey(this.keys[k]!), status, restMs: ms },
          `provider ${this.provider.name} refused its key #${k + 1} with ${status}: skipping it for ${Math.round(ms / 1000)} s`,
        );
      }
    }
    this.until[k] = now + Math.max(ms, MIN_REST_MS);
    this.restedAt[k] = now;
  }

  /** The key answered: if it rested (every key did, and this one was tried anyway), it no longer does. */
  answered(k: number): void {
    if (this.until[k] !== 0) this.until[k] = 0;
  }
}
