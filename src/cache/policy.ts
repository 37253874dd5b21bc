import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { CacheScope, CacheSettings } from '../config.ts';
import { invalidRequest } from '../errors.ts';

/** What a request that uses the cache looks up and stores under, and for how long an entry it stores lives. */
export interface CacheTicket {
  key: Buffer;
  ttlMs: number;
}

/** The parts of a request the cache decides by: who asks, where it goes, and what it sends. */
export interface CacheRequest {
  headers: IncomingHttpHeaders;
  userPath: string;
  authMethod: string;
  authKeyId: string | null;
  endpoint: string;
  /** The resolved route: provider name and model id. */
  provider: string;
  model: string;
  /** The model as the client named it. */
  requested: string;
  /** The request body as validated, before any adapter rewrote it. */
  body: unknown;
}

/** The longest `X-Cache-TTL` a request may ask for: 30 days. */
const MAX_TTL_SECONDS = 2_592_000;
const KEY_VERSION = 'gomodel-exact-1';

const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(',') : v);

/**
 * The request's body as canonical JSON: object keys sorted at every level, so `{"a":1,"b":2}` and
 * `{"b":2,"a":1}` are one entry. Values keep JSON.stringify's form.
 */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  let out = '';
  for (const k of Object.keys(o).sort()) {
    if (o[k] === undefined) continue;
    out += `${out ? ',' : ''}${JSON.stringify(k)}:${canonicalJson(o[k])}`;
  }
  return `{${out}}`;
}

/** Whose entries a request may be answered from: its key and user path, its user path, or everyone's. */
function partition(scope: CacheScope, r: CacheRequest): string {
  if (scope === 'shared') return '';
  if (scope === 'user_path') return r.userPath;
  return `${r.authKeyId ?? r.authMethod}\n${r.userPath}`;
}

/** The entry's key: SHA-256 of the scope's partition, the endpoint, the resolved provider and model and the canonical body. */
export function cacheKey(scope: CacheScope, r: CacheRequest): Buffer {
  return createHash('sha256')
    .update(`${KEY_VERSION}\n${partition(scope, r)}\n${r.endpoint}\n${r.provider}\n${r.model}\n`)
    .update(canonicalJson(r.body))
    .digest();
}

const within = (path: string, root: string) => root === '/' || path === root || path.startsWith(`${root}/`);

/**
 * Whether the request uses the cache, and the entry's lifetime; null when it does not. Bypassed by
 * `Cache-Control: no-cache` or `no-store` and `X-Cache-Control: no-store`, and by
 * `X-Cache-Type: semantic` (a layer this gateway has not); `X-Cache-Type: exact` or `X-Cache-TTL`
 * opt in, else the first operator rule matching the user path and model. A malformed header is a
 * 400 naming it.
 */
export function cacheTicket(settings: CacheSettings, r: CacheRequest): CacheTicket | null {
  const h = r.headers;
  const control = one(h['cache-control'])?.toLowerCase();
  if (control && (control.includes('no-cache') || control.includes('no-store'))) return null;
  const own = one(h['x-cache-control'])?.trim().toLowerCase();
  if (own && own.includes('no-store')) return null;
  const type = one(h['x-cache-type'])?.trim().toLowerCase();
  if (type !== undefined && type !== 'exact' && type !== 'semantic') throw invalidRequest('X-Cache-Type must be exact or semantic', 'X-Cache-Type');
  const ttlHeader = one(h['x-cache-ttl'])?.trim();
  let ttlMs = 0;
  if (ttlHeader !== undefined) {
    const seconds = /^\d{1,7}$/.test(ttlHeader) ? Number(ttlHeader) : NaN;
    if (!(seconds >= 1 && seconds <= MAX_TTL_SECONDS)) throw invalidRequest(`X-Cache-TTL must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}`, 'X-Cache-TTL');
    ttlMs = seconds * 1000;
  }
  if (type === 'semantic') return null;
  if (!ttlMs && type !== 'exact') {
    const rule = settings.rules.find(
      (x) => (x.userPath === undefined || within(r.userPath, x.userPath)) && (x.model === undefined || x.model === r.requested || x.model === r.model || x.model === `${r.provider}/${r.model}`),
    );
    if (!rule) return null;
    ttlMs = rule.ttlMs || settings.ttlMs;
  }
  let key: Buffer;
  try {
    key = cacheKey(settings.scope, r);
  } catch {
    // Nested past the stack (the body was parsed, so it is valid JSON): such a request is not cached.
    return null;
  }
  return { key, ttlMs: ttlMs || settings.ttlMs };
}
