const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const compactNumber = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
const percent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 0 });
const dollars = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 2 });
// Per-request costs are fractions of a cent: keep enough digits to tell them apart.
const cents = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 6 });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** What an unknown value (a cost without a price, a missing field) is shown as: never 0. */
export const UNKNOWN = '—';

export const formatInt = (n: number | null | undefined) => (n === null || n === undefined ? UNKNOWN : integer.format(n));
export const formatCompact = (n: number) => compactNumber.format(n);
export const formatPercent = (ratio: number | undefined) => (ratio === undefined ? UNKNOWN : percent.format(ratio));

export function formatUsd(n: number | null | undefined): string {
  if (n === null || n === undefined) return UNKNOWN;
  return Math.abs(n) >= 1 ? dollars.format(n) : cents.format(n);
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
