// Display formatting. Money arrives as integer nano-dollars (decimal strings) and is formatted
// with BigInt arithmetic, so what a table shows is exactly what the API returned, rounded once.

const NANOS_PER_USD = 1_000_000_000n;

export function toBigInt(nanos: string | number | bigint): bigint {
  if (typeof nanos === 'bigint') return nanos;
  if (typeof nanos === 'number') return BigInt(Math.round(nanos));
  return BigInt(nanos.includes('.') ? nanos.split('.')[0] : nanos);
}

/** $1,234.56 for amounts of a dollar or more; small amounts keep 4 significant decimals ($0.0042). */
export function formatUsd(nanos: string | number | bigint | null | undefined, decimals?: number): string {
  if (nanos === null || nanos === undefined || nanos === '') return '—';
  const n = toBigInt(nanos);
  const negative = n < 0n;
  const abs = negative ? -n : n;
  const places = decimals ?? (abs >= NANOS_PER_USD || abs === 0n ? 2 : abs >= 10_000_000n ? 4 : 6);
  const unit = 10n ** BigInt(9 - places);
  const rounded = (abs + unit / 2n) / unit;
  const scale = 10n ** BigInt(places);
  const whole = (rounded / scale).toLocaleString('en-US');
  const frac = places ? `.${(rounded % scale).toString().padStart(places, '0')}` : '';
  return `${negative ? '-' : ''}$${whole}${frac}`;
}

/** Exact decimal dollars with 9 places, for CSV: "12.345678901". */
export function nanosToDecimal(nanos: string | bigint): string {
  const n = toBigInt(nanos);
  const abs = n < 0n ? -n : n;
  return `${n < 0n ? '-' : ''}${abs / NANOS_PER_USD}.${(abs % NANOS_PER_USD).toString().padStart(9, '0')}`;
}

/** Dollars as a float: for chart geometry only, never for sums shown as numbers. */
export const nanosToUsd = (nanos: string | number | bigint | null | undefined): number => (nanos === null || nanos === undefined ? 0 : Number(toBigInt(nanos)) / 1e9);

export const formatInt = (n: number | string | null | undefined): string => (n === null || n === undefined ? '—' : Math.round(Number(n)).toLocaleString('en-US'));

export function formatCompact(n: number): string {
  return new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 }).format(n);
}

export const formatPct = (ratio: number | null | undefined, digits = 1): string => (ratio === null || ratio === undefined || !Number.isFinite(ratio) ? '—' : `${(ratio * 100).toFixed(digits)}%`);

export const formatMs = (ms: number | null | undefined): string =>
  ms === null || ms === undefined ? '—' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms).toLocaleString('en-US')} ms`;

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/**
 * Change against the previous period, e.g. "+12.5% vs previous". `previous` is null when there is
 * nothing to compare with (no earlier data, or no requests to take a rate of): no percentage then,
 * since a change against a period with no data (or only its tail) is not a change.
 * `partialSince` says the earlier period is only covered from that instant on.
 */
export function formatChange(current: number | null, previous: number | null | undefined, partialSince?: string | null): { text: string; direction: 'up' | 'down' | 'flat' } {
  if (partialSince) return { text: `no full earlier period (data since ${formatDateTime(partialSince)})`, direction: 'flat' };
  if (previous === null || previous === undefined || current === null) return { text: 'no earlier data', direction: 'flat' };
  if (previous === 0) return current === 0 ? { text: 'no change', direction: 'flat' } : { text: 'no earlier data', direction: 'flat' };
  const change = (current - previous) / Math.abs(previous);
  if (Math.abs(change) < 0.0005) return { text: 'no change', direction: 'flat' };
  return { text: `${change > 0 ? '+' : ''}${(change * 100).toFixed(1)}% vs previous`, direction: change > 0 ? 'up' : 'down' };
}

/** A bucket's label in the chosen time zone: "14:00", "Mar 3" or "Mar 2025". */
export function formatBucket(iso: string, bucket: 'hour' | 'day' | 'month' | 'minute', tz: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const options: Intl.DateTimeFormatOptions =
    bucket === 'month'
      ? { month: 'short', year: 'numeric' }
      : bucket === 'day'
        ? { month: 'short', day: 'numeric' }
        : { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
  return new Intl.DateTimeFormat('en-US', { ...options, timeZone: bucket === 'month' || bucket === 'day' ? tz : tz }).format(date);
}

/** One date-time format everywhere, 24-hour like the chart buckets: "Dec 1, 2026, 14:03". */
export const formatDateTime = (iso: string | Date | null | undefined, tz?: string): string =>
  iso ? new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: tz }).format(new Date(iso)) : '—';
