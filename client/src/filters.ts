// Filters live in the URL query string, so any view can be bookmarked and shared.
import type { Filters, RangePreset } from './ranges.js';

export type { Bucket, Filters, RangePreset } from './ranges.js';
export { resolveRange, zonedMidnight } from './ranges.js';

export const RANGE_LABELS: Record<RangePreset, string> = {
  '1h': 'Last hour',
  '24h': 'Last 24 hours',
  '7d': 'Last 7 days',
  '30d': 'Last 30 days',
  mtd: 'Month to date',
  'prev-month': 'Previous month',
  '90d': 'Last 90 days',
  custom: 'Custom…',
};

export const browserTz = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

const DEFAULTS = (): Filters => ({ range: '7d', from: '', to: '', org: '', feature: '', model: '', bucket: 'day', tz: browserTz() });

export function readFilters(search = location.search): Filters {
  const params = new URLSearchParams(search);
  const f = DEFAULTS();
  const range = params.get('range');
  if (range && range in RANGE_LABELS) f.range = range as RangePreset;
  const bucket = params.get('bucket');
  if (bucket === 'hour' || bucket === 'day' || bucket === 'month') f.bucket = bucket;
  for (const key of ['from', 'to', 'org', 'feature', 'model'] as const) f[key] = params.get(key) ?? '';
  const tz = params.get('tz');
  if (tz && isTimeZone(tz)) f.tz = tz;
  return f;
}

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Writes only what differs from the defaults, so shared URLs stay short. */
export function filtersToSearch(f: Filters): string {
  const d = DEFAULTS();
  const params = new URLSearchParams();
  for (const key of Object.keys(f) as Array<keyof Filters>) {
    if (f[key] !== d[key] && f[key] !== '') params.set(key, f[key]);
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

const listeners = new Set<(f: Filters) => void>();
export function onFiltersChange(listener: (f: Filters) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function updateFilters(patch: Partial<Filters>): void {
  const next = { ...readFilters(), ...patch };
  if (next.range !== 'custom') {
    next.from = '';
    next.to = '';
  }
  history.pushState(null, '', `${location.pathname}${filtersToSearch(next)}`);
  for (const listener of listeners) listener(next);
}
