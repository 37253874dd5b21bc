/** An exact decimal number: `units / 10^scale`. */
export interface Decimal {
  units: bigint;
  scale: number;
}

const DECIMAL_TEXT = /^([+-]?)(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i;

/**
 * Parses a decimal from its text, or from a number's shortest round-trip text (`String(n)`: what a
 * JSON literal such as `0.15` or `1.5e-7` reads back as). No binary floating-point arithmetic is
 * involved, so `0.1` is exactly one tenth.
 */
export function parseDecimal(value: number | string): Decimal {
  if (typeof value === 'number' && !Number.isFinite(value)) throw new RangeError(`not a finite number: ${value}`);
  const text = typeof value === 'number' ? String(value) : value.trim();
  const m = DECIMAL_TEXT.exec(text);
  const [, sign = '', whole = '', fraction = '', exponent = '0'] = m ?? [];
  if (!m || whole + fraction === '') throw new RangeError(`not a decimal number: ${JSON.stringify(value)}`);
  let units = BigInt(whole + fraction);
  let scale = fraction.length - Number(exponent);
  if (scale < 0) {
    units *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { units: sign === '-' ? -units : units, scale };
}

/**
 * The decimal as an integer count of `10^-scale` units. Throws when that would lose digits, unless
 * `round` is set (then rounds half away from zero).
 */
export function toScaledInteger(d: Decimal, scale: number, round = false): bigint {
  if (d.scale <= scale) return d.units * 10n ** BigInt(scale - d.scale);
  const divisor = 10n ** BigInt(d.scale - scale);
  const quotient = d.units / divisor;
  const remainder = d.units % divisor;
  if (remainder === 0n) return quotient;
  if (!round) throw new RangeError(`${formatScaled(d.units, d.scale)} has more than ${scale} decimal places`);
  const twice = 2n * (remainder < 0n ? -remainder : remainder);
  if (twice < divisor) return quotient;
  return d.units < 0n ? quotient - 1n : quotient + 1n;
}

/** Plain decimal text of `units / 10^scale`, without exponent or trailing zeros ("0.0000015", "0"). */
export function formatScaled(units: bigint, scale: number): string {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
  const point = digits.length - scale;
  // Trailing zeros of the fraction found by a loop: this runs four times a proxied request.
  let end = digits.length;
  while (end > point && digits.charCodeAt(end - 1) === 48) end--;
  const text = end === point ? digits.slice(0, point) : `${digits.slice(0, point)}.${digits.slice(point, end)}`;
  return negative && text !== '0' ? `-${text}` : text;
}

/** True when the decimals are the same number, whatever their scales. */
export function decimalsEqual(a: Decimal, b: Decimal): boolean {
  const scale = Math.max(a.scale, b.scale);
  return toScaledInteger(a, scale) === toScaledInteger(b, scale);
}

/** Exact sum of two decimals. */
export function addDecimals(a: Decimal, b: Decimal): Decimal {
  const scale = Math.max(a.scale, b.scale);
  return { units: toScaledInteger(a, scale) + toScaledInteger(b, scale), scale };
}
