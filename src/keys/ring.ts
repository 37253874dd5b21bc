import { timingSafeEqual } from 'node:crypto';
import type { Sql } from '../db/sql.ts';
import { Watched } from '../db/watched.ts';
import type { Logger } from '../log.ts';
import { secretDigest } from './secret.ts';
import { AUTH_KEYS_CHANNEL, type AuthKeyRecord, type AuthKeyStore } from './store.ts';

/** What a request made with a valid managed key carries. */
export interface ActiveKey {
  id: string;
  name: string;
  userPath: string;
  labels: readonly string[];
  dashboardAccess: boolean;
}

export type KeyRefusal = 'auth_key_deactivated' | 'auth_key_expired' | 'auth_key_rotated';

export type KeyCheck = ActiveKey | { refused: KeyRefusal; message: string } | null;

interface Entry {
  key: ActiveKey;
  digest: Buffer;
  deactivated: boolean;
  /** ms since the epoch; Infinity when the key never expires. */
  expiresAt: number;
  /** For a secret replaced by a rotation: when its grace ends. */
  graceEnds: number | null;
}

const TOUCH_MS = 10_000;
/** Tokens remembered with their entry so a client's every request does not hash again. */
const MEMO_LIMIT = 4096;

const time = (d: Date | null) => (d ? d.getTime() : Infinity);

/**
 * Every managed key, in memory, kept fresh across processes: a change anywhere is announced on
 * `gomodel_auth_keys` and each process reloads the (small) table when the notification arrives,
 * within milliseconds; a reload every 30 s covers a lost connection. Checking a token is a SHA-256
 * and a map lookup (a memo of recently accepted tokens skips even the hash), never a database
 * round trip. When keys were last used is written in batches every 10 s.
 */
export class KeyRing {
  private byDigest = new Map<string, Entry>();
  private memo = new Map<string, Entry>();
  private used = new Map<string, number>();
  private keyCount = 0;
  private touchTimer: NodeJS.Timeout | undefined;
  private readonly watched: Watched;

  constructor(
    private readonly sql: Sql,
    private readonly store: AuthKeyStore,
    private readonly log: Logger,
  ) {
    this.watched = new Watched(async () => this.install(await this.store.list()), 'managed keys', log);
  }

  async start(): Promise<void> {
    await this.watched.start(this.sql, AUTH_KEYS_CHANNEL);
    this.touchTimer = setInterval(() => void this.flushUsed(), TOUCH_MS);
    this.touchTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.touchTimer);
    await this.watched.stop();
    await this.flushUsed();
  }

  /** True once at least one managed key exists: then every `/v1` request needs a key. */
  get required(): boolean {
    return this.keyCount > 0;
  }

  /** Reloads the key table; concurrent calls share one load and a change during it loads again. */
  reload(): Promise<void> {
    return this.watched.reload();
  }

  private install(records: AuthKeyRecord[]): void {
    const byDigest = new Map<string, Entry>();
    for (const r of records) {
      const key: ActiveKey = { id: r.id, name: r.name, userPath: r.user_path, labels: Object.freeze([...r.labels]), dashboardAccess: r.dashboard_access };
      const base = { key, deactivated: r.deactivated_at !== null, expiresAt: time(r.expires_at) };
      byDigest.set(r.secret_hash.toString('base64'), { ...base, digest: r.secret_hash, graceEnds: null });
      if (r.previous_hash) byDigest.set(r.previous_hash.toString('base64'), { ...base, digest: r.previous_hash, graceEnds: time(r.previous_expires_at) });
    }
    this.byDigest = byDigest;
    this.memo = new Map();
    this.keyCount = records.length;
  }

  /**
   * The key a presented token belongs to, a refusal saying why a known key may not be used, or
   * null for a token that is no managed key.
   */
  check(token: string, now: number): KeyCheck {
    let entry = this.memo.get(token);
    if (!entry) {
      const digest = secretDigest(token);
      const found = this.byDigest.get(digest.toString('base64'));
      if (!found || !timingSafeEqual(found.digest, digest)) return null;
      entry = found;
      if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
      this.memo.set(token, entry);
    }
    if (entry.deactivated) return { refused: 'auth_key_deactivated', message: `API key "${entry.key.name}" has been deactivated` };
    if (now >= entry.expiresAt) return { refused: 'auth_key_expired', message: `API key "${entry.key.name}" expired at ${new Date(entry.expiresAt).toISOString()}` };
    if (entry.graceEnds !== null && now >= entry.graceEnds) {
      return { refused: 'auth_key_rotated', message: `API key "${entry.key.name}" was rotated: this secret is no longer valid, use the new one` };
    }
    this.used.set(entry.key.id, now);
    return entry.key;
  }

  /** Writes when keys were last used (kept in memory between flushes). */
  async flushUsed(): Promise<void> {
    if (this.used.size === 0) return;
    const used = this.used;
    this.used = new Map();
    try {
      await this.store.touch(used);
    } catch (err) {
      for (const [id, at] of used) if ((this.used.get(id) ?? 0) < at) this.used.set(id, at);
      this.log.warn({ err: String(err) }, 'could not record when managed keys were last used');
    }
  }
}
