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

const DEFAULTS = (): Filters => ({ range: '7d', from: '', to: '', org: '', feature: '', model: '', bucket: 'day', tz: browserTz(), statement: '', month: '' });

export function readFilters(search = location.search): Filters {
  const params = new URLSearchParams(search);
  const f = DEFAULTS();
  const range = params.get('range');
  if (range && range in RANGE_LABELS) f.range = range as RangePreset;
  const bucket = params.get('bucket');
  if (bucket === 'hour' || bucket === 'day' || bucket === 'month') f.bucket = bucket;
  for (const key of ['from', 'to', 'org', 'feature', 'model', 'statement'] as const) f[key] = params.get(key) ?? '';
  const month = params.get('month') ?? '';
  f.month = /^\d{4}-(0[1-9]|1[0-2])$/.test(month) ? month : '';
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
    const value = f[key];
    if (value !== undefined && value !== d[key] && value !== '') params.set(key, value);
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
  // A statement month picked by hand holds until the range changes; then it follows the range.
  if ((patch.range !== undefined || patch.from !== undefined) && patch.month === undefined) next.month = '';
  if (next.range !== 'custom') {
    next.from = '';
    next.to = '';
  }
  // The same choice twice (a change event repeated) adds no history entry: Back goes to the previous view.
  const url = `${location.pathname}${filtersToSearch(next)}`;
  if (url !== `${location.pathname}${location.search}`) history.pushState(null, '', url);
  for (const listener of listeners) listener(next);
}
