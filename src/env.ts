/** Typed readers for environment variables; each throws a message naming the variable. */
export type Env = Record<string, string | undefined>;

export function envString(env: Env, name: string, fallback: string): string {
  const v = env[name]?.trim();
  return v ? v : fallback;
}

export function envBool(env: Env, name: string, fallback: boolean): boolean {
  const v = env[name]?.trim().toLowerCase();
  if (!v) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new Error(`${name} must be true or false, got "${env[name]}"`);
}

export function envInt(env: Env, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = env[name]?.trim();
  if (!v) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer in [${min}, ${max}], got "${v}"`);
  return n;
}

export function envNumber(env: Env, name: string, fallback: number, min: number, max: number): number {
  const v = env[name]?.trim();
  if (!v) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name} must be a number in [${min}, ${max}], got "${v}"`);
  return n;
}

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration in milliseconds: `500ms`, `1s`, `2m`, `1h`, or a bare number of seconds. */
export function envDuration(env: Env, name: string, fallbackMs: number): number {
  const v = env[name]?.trim();
  if (!v) return fallbackMs;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i.exec(v);
  if (!m) throw new Error(`${name} must be a duration like 500ms, 1s, 2m or a number of seconds, got "${v}"`);
  return Math.round(Number(m[1]) * durationUnits[(m[2] ?? 's').toLowerCase()]!);
}

const retentionUnits: Record<string, number> = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** How long data is kept: `400d`, `12w`, `36h`; `0` or `forever` keeps it forever (null). */
export function parseRetention(name: string, value: string): number | null {
  const v = value.trim();
  if (v === '0' || v.toLowerCase() === 'forever') return null;
  const m = /^(\d+)\s*([hdw])$/i.exec(v);
  if (!m || Number(m[1]) === 0) throw new Error(`${name} must be a duration like 400d, 12w or 36h, or 0 (forever) to keep everything, got "${value}"`);
  return Number(m[1]) * retentionUnits[m[2]!.toLowerCase()]!;
}

const sizeUnits: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** A byte size: `10M`, `512K`, `10MB`, or a bare number of bytes. */
export function envBytes(env: Env, name: string, fallback: number): number {
  const v = env[name]?.trim();
  if (!v) return fallback;
  const m = /^(\d+)\s*([kmg]?)i?b?$/i.exec(v);
  if (!m) throw new Error(`${name} must be a size like 10M, 512K or a number of bytes, got "${v}"`);
  return Number(m[1]) * sizeUnits[m[2]!.toLowerCase()]!;
}
