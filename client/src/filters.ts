// Filters live in the URL query string, so any view can be bookmarked and shared.

export type RangePreset = '24h' | '7d' | '30d' | 'mtd' | 'prev-month' | '90d' | 'custom';
export type Bucket = 'hour' | 'day' | 'month';

export interface Filters {
  range: RangePreset;
  /** yyyy-mm-dd, only with range=custom */
  from: string;
  to: string;
  org: string;
  feature: string;
  model: string;
  bucket: Bucket;
  tz: string;
}

export const RANGE_LABELS: Record<RangePreset, string> = {
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

/** The wall-clock start of the day/month that `at` falls in, in `tz`, as a UTC instant. */
function startOfZonedDay(at: Date, tz: string, monthStart = false): Date {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  const offset = asUtc - Math.floor(at.getTime() / 1000) * 1000;
  const wall = Date.UTC(+parts.year, +parts.month - 1, monthStart ? 1 : +parts.day);
  return new Date(wall - offset);
}

/** Resolves the range to instants now, so a live page's window moves forward with time. */
export function resolveRange(f: Filters, now = new Date()): { from: Date; to: Date } {
  const day = 86_400_000;
  switch (f.range) {
    case '24h':
      return { from: new Date(now.getTime() - day), to: now };
    case '7d':
      return { from: startOfZonedDay(new Date(now.getTime() - 6 * day), f.tz), to: now };
    case '30d':
      return { from: startOfZonedDay(new Date(now.getTime() - 29 * day), f.tz), to: now };
    case '90d':
      return { from: startOfZonedDay(new Date(now.getTime() - 89 * day), f.tz), to: now };
    case 'mtd':
      return { from: startOfZonedDay(now, f.tz, true), to: now };
    case 'prev-month': {
      const thisMonth = startOfZonedDay(now, f.tz, true);
      return { from: startOfZonedDay(new Date(thisMonth.getTime() - day), f.tz, true), to: thisMonth };
    }
    case 'custom': {
      const from = f.from ? new Date(`${f.from}T00:00:00Z`) : new Date(now.getTime() - 7 * day);
      const to = f.to ? new Date(`${f.to}T00:00:00Z`) : now;
      // Custom dates are calendar days in the chosen time zone; `to` is inclusive.
      return { from: startOfZonedDay(new Date(from.getTime() + 12 * 3600_000), f.tz), to: f.to ? startOfZonedDay(new Date(to.getTime() + 36 * 3600_000), f.tz) : now };
    }
  }
}
