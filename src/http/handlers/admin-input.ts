import { invalidRequest } from '../../errors.ts';
import { normalizeUserPath } from '../../user-path.ts';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a value can be a managed key's id (anything else would fail as a uuid in PostgreSQL). */
export const isUuid = (value: unknown): value is string => typeof value === 'string' && uuidPattern.test(value);

/** A user path from an admin body, normalised; `/` when absent. */
export function userPathOf(value: unknown, param = 'user_path'): string {
  if (value === undefined || value === null) return '/';
  if (typeof value !== 'string') throw invalidRequest(`${param} must be a string`, param);
  try {
    return normalizeUserPath(value) ?? '/';
  } catch (err) {
    throw invalidRequest(`invalid ${param}: ${(err as Error).message}`, param);
  }
}

/**
 * Exactly one of a period name (looked up in `named`, whose names `expected` lists) and a number
 * of seconds, at `where` in the body ('' for its top level).
 */
export function periodOf(period: unknown, seconds: unknown, where: string, named: (name: string) => number | undefined, expected: string): number {
  const prefix = where ? `${where}.` : '';
  if ((period === undefined) === (seconds === undefined)) throw invalidRequest(`give exactly one of ${prefix}period and ${prefix}period_seconds`, where || 'period');
  if (seconds !== undefined) return seconds as number;
  const found = typeof period === 'string' ? named(period) : undefined;
  if (found === undefined) throw invalidRequest(`unknown period "${String(period)}": expected ${expected}`, `${prefix}period`);
  return found;
}

/** A reset of everything needs `{"confirmation": "reset"}` (`confirm` is accepted too). */
export function requireResetConfirmation(body: unknown): void {
  const b = (body ?? {}) as { confirmation?: unknown; confirm?: unknown };
  if ((b.confirmation ?? b.confirm) !== 'reset') throw invalidRequest('confirmation must be "reset"', 'confirmation');
}
