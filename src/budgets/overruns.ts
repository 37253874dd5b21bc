/** Requests a key remembers; its margin is the largest overrun among them. */
const RECENT = 32;
/** Keys remembered; the oldest is forgotten first (and its next request probes again). */
const CAPACITY = 4096;
const INT64_MAX = 2n ** 63n - 1n;

/**
 * What the recent requests of one key (budget path, provider, model) cost beyond their own worst
 * case: more input than their size suggests (documents, file ids, cached context), more output
 * than `max_tokens`, a pricier model in the reply than the one asked for, a provider-reported
 * charge. A new reservation on the key adds the largest of the last 32 such overruns, in exact
 * femto-USD. A key with nothing learned yet lets one request through at a time (the probe) until
 * one has cost something, so that a burst on an unknown key cannot overshoot all at once.
 */
export class Overrun {
  private readonly recent = new BigInt64Array(RECENT);
  private next = 0;
  /** Requests learned from; 0 until the first one settles. */
  learned = 0;
  /** femto-USD a reservation on this key adds to its own worst case. */
  margin = 0n;
  /** Resolves when the request probing this key ends; null while no request is probing. */
  probe: Promise<void> | null = null;
  private probed: (() => void) | null = null;

  /** Makes the caller the key's probe. */
  startProbe(): void {
    this.probe = new Promise((resolve) => (this.probed = resolve));
  }

  /** Lets requests waiting on the probe go on (they try again: the key may still have nothing learned). */
  endProbe(): void {
    const resolve = this.probed;
    this.probe = this.probed = null;
    resolve?.();
  }

  /** Learns how much more than its own worst case a settled request cost (0 when it cost no more). */
  add(overrun: bigint): void {
    const value = overrun > INT64_MAX ? INT64_MAX : overrun < 0n ? 0n : overrun;
    const dropped = this.recent[this.next]!;
    this.recent[this.next] = value;
    this.next = (this.next + 1) % RECENT;
    this.learned++;
    if (value >= this.margin) this.margin = value;
    else if (dropped === this.margin) {
      let max = 0n;
      for (const v of this.recent) if (v > max) max = v;
      this.margin = max;
    }
    this.endProbe();
  }
}

/** The overruns of every key seen, at most CAPACITY of them. */
export class Overruns {
  private readonly keys = new Map<string, Overrun>();

  of(key: string): Overrun {
    let o = this.keys.get(key);
    if (!o) {
      if (this.keys.size >= CAPACITY) this.keys.delete(this.keys.keys().next().value!);
      this.keys.set(key, (o = new Overrun()));
    }
    return o;
  }
}
