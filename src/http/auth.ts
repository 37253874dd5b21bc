import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Distinct accepted Authorization values remembered (spacing and case of "Bearer" vary by client). */
const ACCEPTED_LIMIT = 16;

/**
 * Returns a checker for the Authorization header: null when the request may proceed, otherwise
 * the reason it may not. Without a master key every request may proceed.
 */
export function createAuthenticator(masterKey: string | null): (authorization: string | undefined) => string | null {
  if (!masterKey) return () => null;
  const expected = digest(masterKey);
  // Header values that passed the digest comparison, so a client's every request does not hash
  // again (3.6 us per request, about a tenth of the gateway's own code on the proxy path). Only
  // values that carry the key get in, so the set cannot be filled from outside; a miss falls
  // through to the comparison.
  const accepted = new Set<string>();
  return (authorization) => {
    if (authorization !== undefined && accepted.has(authorization)) return null;
    if (!authorization) return 'missing authorization header';
    const m = /^Bearer\s+(.+)$/i.exec(authorization.trim());
    if (!m) return "invalid authorization header format, expected 'Bearer <token>'";
    // Compare fixed-length digests so neither the content nor the length of the key leaks through timing.
    if (!timingSafeEqual(digest(m[1]!.trim()), expected)) return 'invalid API key';
    if (accepted.size < ACCEPTED_LIMIT) accepted.add(authorization);
    return null;
  };
}
