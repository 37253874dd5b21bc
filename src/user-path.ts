/** A path already in normal form: the usual header value, taken as is without splitting it. */
const normal = /^(?:\/[^/:\s\u0000-\u001f\u007f]+)+$/;

/**
 * Normalises a user path: trims, adds the leading slash, drops empty segments; rejects `.`/`..`
 * segments and `:`. Returns null for an empty value (no path given), `/` for the root.
 * Throws an Error whose message says what is wrong.
 */
export function normalizeUserPath(raw: string): string | null {
  if (raw.length <= 1024 && normal.test(raw) && !/\/\.\.?(?:\/|$)/.test(raw)) return raw;
  const trimmed = raw.trim();
  if (trimmed === '') return null;
  if (trimmed.includes(':')) throw new Error('user path must not contain ":"');
  if (trimmed.length > 1024) throw new Error('user path is longer than 1024 characters');
  const segments = trimmed.split('/').map((s) => s.trim()).filter((s) => s !== '');
  for (const s of segments) {
    if (s === '.' || s === '..') throw new Error('user path must not contain "." or ".." segments');
    if (/[\u0000-\u001f\u007f]/.test(s)) throw new Error('user path must not contain control characters');
  }
  return `/${segments.join('/')}`;
}

/** Escapes LIKE wildcards so a value matches literally (backslash is PostgreSQL's default escape). */
export const escapeLike = (s: string): string => s.replace(/[\\%_]/g, (c) => `\\${c}`);
