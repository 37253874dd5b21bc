import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../errors.ts';
import type { KeyRing } from '../keys/ring.ts';
import { anonymous, type Caller } from './caller.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Distinct header values carrying the master key remembered (spacing and case of "Bearer" vary by client). */
const ACCEPTED_LIMIT = 16;

const MALFORMED = "invalid authorization header format, expected 'Bearer <token>'";

export interface Authenticator {
  /** Who a `/v1` request is; throws 401 when it may not proceed. */
  api(headers: IncomingHttpHeaders): Caller;
  /** Who an `/admin` request is; throws 401, or 403 `dashboard_access_denied` for a key without dashboard access. */
  admin(headers: IncomingHttpHeaders): Caller;
}

const unauthorized = (message: string, code?: string) => new GatewayError('authentication_error', 401, message, { code });

/**
 * Authenticates requests by the master key or a managed key, presented as `Authorization: Bearer`
 * or (as Anthropic SDKs send it) `x-api-key`. Without a master key the gateway is open until the
 * first managed key exists; from then on `/v1` needs a key, while `/admin` stays open so the
 * dashboard can recover access (a managed key presented there still needs dashboard access).
 */
export function createAuthenticator(masterKey: string | null, ring: KeyRing): Authenticator {
  const master: Caller = Object.freeze({ method: 'master_key', key: null });
  const expected = masterKey ? digest(masterKey) : null;
  // Header values that passed the digest comparison, so a client's every request does not hash
  // again. Only values that carry the key get in, so the set cannot be filled from outside.
  const accepted = new Set<string>();

  /** The presented credential's header value and token; null when none; a string when malformed. */
  function presented(headers: IncomingHttpHeaders): { value: string; token: string } | null | string {
    const authorization = headers.authorization;
    if (authorization) {
      if (accepted.has(authorization)) return { value: authorization, token: '' };
      const m = /^Bearer\s+(\S.*)$/i.exec(authorization.trim());
      return m ? { value: authorization, token: m[1]!.trim() } : MALFORMED;
    }
    const apiKey = headers['x-api-key'];
    if (typeof apiKey === 'string' && apiKey.trim()) return { value: apiKey, token: apiKey.trim() };
    return null;
  }

  /** The caller a credential names, or why it is refused; null for a token that is no key. */
  function identify(p: { value: string; token: string }): Caller | GatewayError | null {
    if (accepted.has(p.value)) return master;
    if (expected && timingSafeEqual(digest(p.token), expected)) {
      if (accepted.size < ACCEPTED_LIMIT) accepted.add(p.value);
      return master;
    }
    const checked = ring.check(p.token, Date.now());
    if (checked === null) return null;
    if ('refused' in checked) return unauthorized(checked.message, checked.refused);
    return { method: 'api_key', key: checked };
  }

  return {
    api(headers) {
      if (!expected && !ring.required) return anonymous;
      const p = presented(headers);
      if (p === null) return thrown(unauthorized('missing authorization header'));
      if (typeof p === 'string') return thrown(unauthorized(p));
      const caller = identify(p);
      if (caller === null) return thrown(unauthorized('invalid API key'));
      if (caller instanceof GatewayError) throw caller;
      return caller;
    },
    admin(headers) {
      const p = presented(headers);
      if (p === null) {
        if (!expected) return anonymous;
        return thrown(unauthorized('missing authorization header'));
      }
      if (typeof p === 'string') return expected ? thrown(unauthorized(p)) : anonymous;
      const caller = identify(p);
      if (caller instanceof GatewayError) throw caller;
      if (caller === null) return expected ? thrown(unauthorized('invalid API key')) : anonymous;
      if (caller.key && !caller.key.dashboardAccess) {
        throw new GatewayError('authentication_error', 403, `API key "${caller.key.name}" has no dashboard access: the admin API needs the master key or a key with dashboard_access`, {
          code: 'dashboard_access_denied',
        });
      }
      return caller;
    },
  };
}

function thrown(err: GatewayError): never {
  throw err;
}
