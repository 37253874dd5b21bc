import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Returns a checker for the Authorization header: null when the request may proceed, otherwise
 * the reason it may not. Without a master key every request may proceed.
 */
export function createAuthenticator(masterKey: string | null): (authorization: string | undefined) => string | null {
  if (!masterKey) return () => null;
  const expected = digest(masterKey);
  return (authorization) => {
    if (!authorization) return 'missing authorization header';
    const m = /^Bearer\s+(.+)$/i.exec(authorization.trim());
    if (!m) return "invalid authorization header format, expected 'Bearer <token>'";
    // Compare fixed-length digests so neither the content nor the length of the key leaks through timing.
    return timingSafeEqual(digest(m[1]!.trim()), expected) ? null : 'invalid API key';
  };
}
