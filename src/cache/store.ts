import type { CacheSettings } from '../config.ts';
import type { Sql } from '../db/sql.ts';
import type { Logger } from '../log.ts';
import type { TokenUsage } from '../providers/types.ts';

/** A reply as the cache holds it: the bytes the client received, and what its usage row is made of. */
export interface CachedReply {
  body: Buffer;
  stream: boolean;
  /** The model and response id the provider reported. */
  model: string;
  providerId: string;
  usage: TokenUsage | null;
}

/** A reply to store, with where it came from and how long it lives. */
export interface CacheEntry extends CachedReply {
  endpoint: string;
  provider: string;
  routedModel: string;
  ttlMs: number;
}

/** A lookup slower than this is a miss: the cache must never hold a request up longer than it saves. */
const LOOKUP_TIMEOUT_MS = 1000;
/** Writes in flight beyond this are dropped: storing is an optimisation, never a queue that grows. */
const MAX_WRITES = 16;
/** One replica sweeps at a time. */
const SWEEP_LOCK = 0x6763_6163; // 'gcac'

/** An entry a process holds in memory, until its expiry. */
interface Held {
  reply: CachedReply;
  expires: number;
}

/**
 * The response cache's table (migration 0034), shared by every replica, with the entries a
 * process served or stored last in front of it (`memoryBytes`, least recently used first out).
 * Entries never change before they expire, so a copy in memory is good until the expiry the table
 * gave it. A lookup missing memory is one primary-key read; writes happen after the reply is
 * complete, never awaited by a request; a hit's recency is noted in memory and written by the
 * sweep, which also deletes expired entries and, past `maxBytes`, the least recently hit.
 */
export class ResponseCache {
  private readonly touched = new Set<string>();
  /** Insertion order is recency: a hit moves its entry to the end, eviction takes from the front. */
  private readonly memory = new Map<string, Held>();
  private memoryBytes = 0;
  private writes = 0;
  private writtenSinceSweep = 0;
  private sweeping: Promise<void> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private lastWarning = 0;

  constructor(
    private readonly sql: Sql,
    readonly settings: CacheSettings,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sweep(), this.settings.sweepMs);
    this.timer.unref();
  }

  /** The live entry under `key`; null on a miss, or when the database did not answer in time. */
  async lookup(key: Buffer): Promise<CachedReply | null> {
    const hex = key.toString('hex');
    const held = this.memory.get(hex);
    if (held) {
      this.forget(hex, held);
      if (held.expires > Date.now()) {
        this.hold(hex, held);
        this.touched.add(hex);
        return held.reply;
      }
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      const found = this.sql<{ stream: boolean; body: Buffer; reported_model: string; provider_id: string; usage: TokenUsage | null; expires_at: Date }[]>`
        select stream, body, reported_model, provider_id, usage, expires_at from response_cache where key = ${key} and expires_at > now()`;
      const rows = await Promise.race([found, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), LOOKUP_TIMEOUT_MS)))]);
      if (rows === null) {
        found.catch(() => {});
        this.warn('response cache lookup timed out: answered by the provider');
        return null;
      }
      const row = rows[0];
      if (!row) return null;
      this.touched.add(hex);
      const reply = { body: row.body, stream: row.stream, model: row.reported_model, providerId: row.provider_id, usage: row.usage };
      this.hold(hex, { reply, expires: row.expires_at.getTime() });
      return reply;
    } catch (err) {
      this.warn('response cache lookup failed: answered by the provider', err);
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stores a complete reply in the background; one larger than `maxEntryBytes`, or past the writes in flight, is not stored. */
  store(key: Buffer, e: CacheEntry): void {
    if (e.body.length > this.settings.maxEntryBytes) return;
    const expires = new Date(Date.now() + e.ttlMs);
    const hex = key.toString('hex');
    const held = this.memory.get(hex);
    if (held) this.forget(hex, held);
    this.hold(hex, { reply: { body: e.body, stream: e.stream, model: e.model, providerId: e.providerId, usage: e.usage }, expires: expires.getTime() });
    if (this.writes >= MAX_WRITES) return;
    this.writes++;
    this.sql`
      insert into response_cache (key, endpoint, provider_name, model, stream, body, reported_model, provider_id, usage, bytes, expires_at)
      values (${key}, ${e.endpoint}, ${e.provider}, ${e.routedModel}, ${e.stream}, ${e.body}, ${e.model}, ${e.providerId},
              ${e.usage ? this.sql.json(e.usage as never) : null}, ${e.body.length}, ${expires})
      on conflict (key) do update set body = excluded.body, stream = excluded.stream, reported_model = excluded.reported_model,
        provider_id = excluded.provider_id, usage = excluded.usage, bytes = excluded.bytes, created_at = now(),
        expires_at = excluded.expires_at, last_hit_at = now()`
      .then(
        () => {
          this.writtenSinceSweep += e.body.length;
          // Between sweeps the table may grow by a tenth of its bound; then it is swept at once.
          if (this.writtenSinceSweep > this.settings.maxBytes / 10) void this.sweep();
        },
        (err: unknown) => this.warn('response cache write failed', err),
      )
      .finally(() => this.writes--);
  }

  /**
   * Writes the recency of the hits since the last sweep, deletes expired entries, then the least
   * recently hit while the rest exceed `maxBytes`. One replica at a time (an advisory lock); a
   * sweep already under way in this process is shared.
   */
  sweep(): Promise<void> {
    this.sweeping ??= this.sweepOnce().finally(() => (this.sweeping = null));
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    const hits = [...this.touched];
    this.touched.clear();
    this.writtenSinceSweep = 0;
    try {
      await this.sql.begin(async (tx) => {
        if (hits.length) {
          await tx`update response_cache set last_hit_at = now()
            where key in (select decode(k, 'hex') from unnest(${hits}::text[]) k)`;
        }
        const [lock] = await tx`select pg_try_advisory_xact_lock(${SWEEP_LOCK}) as got`;
        if (!lock?.got) return;
        await tx`delete from response_cache where expires_at <= now()`;
        await tx`delete from response_cache c using (
            select key, sum(bytes) over (order by last_hit_at desc, key) as running from response_cache
          ) r where c.key = r.key and r.running > ${this.settings.maxBytes}`;
      });
    } catch (err) {
      this.warn('response cache sweep failed', err);
    }
  }

  /** Keeps an entry in memory as the most recently used, evicting the least recently used past `memoryBytes`. */
  private hold(hex: string, held: Held): void {
    const limit = this.settings.memoryBytes;
    if (held.reply.body.length > limit) return;
    this.memory.set(hex, held);
    this.memoryBytes += held.reply.body.length;
    for (const [oldest, h] of this.memory) {
      if (this.memoryBytes <= limit) break;
      this.forget(oldest, h);
    }
  }

  private forget(hex: string, held: Held): void {
    this.memory.delete(hex);
    this.memoryBytes -= held.reply.body.length;
  }

  /** Live entries and their bytes. */
  async size(): Promise<{ entries: number; bytes: number }> {
    const [row] = await this.sql`select count(*)::bigint as entries, coalesce(sum(bytes), 0)::bigint as bytes from response_cache where expires_at > now()`;
    return { entries: Number(row!.entries), bytes: Number(row!.bytes) };
  }

  /** Stops sweeping; waits (briefly) for writes in flight. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const until = Date.now() + 1000; this.writes > 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 10));
    await this.sweeping;
  }

  /** At most one warning a minute: a database that is down would otherwise log one per cached request. */
  private warn(message: string, err?: unknown): void {
    const now = Date.now();
    if (now - this.lastWarning < 60_000) return;
    this.lastWarning = now;
    this.log.warn(err ? { err: (err as Error).message } : {}, message);
  }
}
