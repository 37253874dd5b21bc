const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const compactNumber = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
const percent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 0 });
// A share under 1% in two significant digits, so that a small non-zero share never shows as 0%.
const smallPercent = new Intl.NumberFormat(undefined, { style: 'percent', maximumSignificantDigits: 2 });
const dollars = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 2 });
// Per-request costs are fractions of a cent: keep enough digits to tell them apart (six decimals,
// more for amounts that six would leave with fewer than two significant digits).
const cents = new Map<number, Intl.NumberFormat>();
function centsFormat(fractionDigits: number): Intl.NumberFormat {
  let format = cents.get(fractionDigits);
  if (!format) cents.set(fractionDigits, (format = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: fractionDigits })));
  return format;
}
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** What an unknown value (a cost without a price, a missing field) is shown as: never 0. */
export const UNKNOWN = '—';

export const formatInt = (n: number | null | undefined) => (n === null || n === undefined ? UNKNOWN : integer.format(n));
export const formatCompact = (n: number) => compactNumber.format(n);

/** A ratio as a percentage: whole percents, two significant digits under 1% (never 0% for a non-zero ratio). */
export function formatPercent(ratio: number | undefined): string {
  if (ratio === undefined) return UNKNOWN;
  return ratio !== 0 && Math.abs(ratio) < 0.01 ? smallPercent.format(ratio) : percent.format(ratio);
}

/**
 * USD: cents from $1 up; below, up to six decimals and at least two significant digits, so that a
 * non-zero amount ($0.00000016 for an 8-token embedding) never shows as $0.00. `unknown` for no amount.
 */
export function formatUsd(n: number | null | undefined, unknown = UNKNOWN): string {
  if (n === null || n === undefined) return unknown;
  const magnitude = Math.abs(n);
  if (magnitude >= 1 || magnitude === 0) return dollars.format(n);
  return centsFormat(Math.min(20, Math.max(6, 1 - Math.floor(Math.log10(magnitude))))).format(n);
}

/**
 * A total cost and the requests it leaves out for want of a price, as `$0.00225 + 9 requests of
 * unknown cost`: unpriced requests never vanish from a total.
 */
export function formatCostTotal(total: number | null | undefined, unknownRequests: number | undefined): string {
  const unknown = formatUnknownCosts(unknownRequests);
  if (!unknown) return formatUsd(total);
  return total === null || total === undefined ? unknown : `${formatUsd(total)} + ${unknown}`;
}

/** `9 requests of unknown cost`, or '' for none. */
export function formatUnknownCosts(requests: number | undefined): string {
  if (!requests) return '';
  return `${integer.format(requests)} ${requests === 1 ? 'request' : 'requests'} of unknown cost`;
}

/** A timestamp from the API in the browser's time zone. */
export const formatTime = (iso: string | undefined) => (iso ? dateTime.format(new Date(iso)) : UNKNOWN);

const clockSeconds = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const clockMinutes = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const monthDay = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

/** An axis label for a bucket starting at `epochSeconds`, as precise as buckets of `bucketSeconds` need. */
export function formatBucketStart(epochSeconds: number, bucketSeconds: number): string {
  const at = new Date(epochSeconds * 1000);
  if (bucketSeconds < 60) return clockSeconds.format(at);
  if (bucketSeconds < 86400) return clockMinutes.format(at);
  return monthDay.format(at);
}

/** The browser's IANA zone, sent as X-GoModel-Timezone so days and buckets follow the operator's clock. */
export const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

/** A provider as `name (type)` when the configured name differs from its type. */
export const formatProvider = (type: string | undefined, name: string | undefined) => (name && name !== type ? `${name} (${type})` : (type ?? UNKNOWN));
