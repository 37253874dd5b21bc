import { createHash, randomBytes } from 'node:crypto';

export const SECRET_PREFIX = 'sk_gom_';

/** A new secret: the prefix and 32 random bytes in base64url (43 characters). */
export const newSecret = (): string => `${SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;

/**
 * SHA-256 of a presented token. The secrets are 256 random bits, so a plain digest cannot be
 * searched back (no salt or slow hash is needed) and identifies the key by one map lookup.
 */
export const secretDigest = (token: string): Buffer => createHash('sha256').update(token).digest();

/** The last four characters: what lists show of a secret (`sk_gom_…abcd`). */
export const secretTail = (secret: string): string => secret.slice(-4);

export const redacted = (tail: string): string => `${SECRET_PREFIX}…${tail}`;
