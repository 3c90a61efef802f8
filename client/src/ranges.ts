// Range presets resolved to instants in a time zone. No DOM here: the server-side tests check these
// against Postgres in every IANA zone (test/e2e/analytics-ranges.test.ts).

export type RangePreset = '1h' | '24h' | '7d' | '30d' | 'mtd' | 'prev-month' | '90d' | 'custom';
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
  /** Finance's statement: its org (id or slug) and month (yyyy-mm); '' = the org filter's, the range's month. */
  statement?: string;
  month?: string;
}

/** The wall-clock date of `at` in `tz`. */
function zonedDate(at: Date, tz: string): { year: number; month: number; day: number } {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' })
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  return { year: +parts.year, month: +parts.month, day: +parts.day };
}

const wallClocks = new Map<string, Intl.DateTimeFormat>();

/** How far `tz`'s wall clock is ahead of UTC at the instant `ms` (milliseconds, DST included). */
function offsetAt(ms: number, tz: string): number {
  let format = wallClocks.get(tz);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    wallClocks.set(tz, format);
  }
  const parts = Object.fromEntries(format.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  return Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second) - Math.floor(ms / 1000) * 1000;
}

/**
 * Local midnight of a calendar day in `tz` as a UTC instant. The offset is the one in force at
 * that midnight, not today's: Nov 1 in America/Los_Angeles starts at 07:00Z (PDT) although Dec 1
 * starts at 08:00Z (PST). Candidates are the offsets a day and a half either side; the one whose
 * instant reads back as that midnight wins. When midnight is skipped (a DST gap at 00:00, as in
 * America/Santiago) or happens twice (Atlantic/Azores), the later instant is taken, as Postgres
 * does, so the dashboard and the server's buckets and statements agree. Day and month overflow
 * (day 0, month 13) roll over as in Date.UTC.
 */
export function zonedMidnight(year: number, month: number, day: number, tz: string): Date {
  const wall = Date.UTC(year, month - 1, day);
  const offsets = [offsetAt(wall - 36 * 3_600_000, tz), offsetAt(wall, tz), offsetAt(wall + 36 * 3_600_000, tz)];
  const valid = offsets.map((o) => wall - o).filter((t) => offsetAt(t, tz) === wall - t);
  return new Date(valid.length ? Math.max(...valid) : wall - Math.min(...offsets));
}

/** A calendar day as yyyy-mm-dd, with overflow (day 0, month 13) rolled over. */
const dayText = (year: number, month: number, day: number) => new Date(Date.UTC(year, month - 1, day)).toISOString().slice(0, 10);

export interface ResolvedRange {
  from: Date;
  to: Date;
  /**
   * The same edges as local calendar days (yyyy-mm-dd in f.tz) where they are local midnights,
   * null where they are "now" or "24 hours ago". The analytics API reads these in the zone itself,
   * so its answer follows Postgres's tz database even where the browser's differs.
   */
  fromDay: string | null;
  toDay: string | null;
}

/** Resolves the range to instants now, so a live page's window moves forward with time. */
export function resolveRange(f: Filters, now = new Date()): ResolvedRange {
  const today = zonedDate(now, f.tz);
  const local = (year: number, month: number, day: number) => ({ at: zonedMidnight(year, month, day, f.tz), day: dayText(year, month, day) });
  const sinceDay = (n: number): ResolvedRange => {
    const start = local(today.year, today.month, today.day - n);
    return { from: start.at, fromDay: start.day, to: now, toDay: null };
  };
  switch (f.range) {
    case '1h':
      return { from: new Date(now.getTime() - 3_600_000), to: now, fromDay: null, toDay: null };
    case '24h':
      return { from: new Date(now.getTime() - 86_400_000), to: now, fromDay: null, toDay: null };
    case '7d':
      return sinceDay(6);
    case '30d':
      return sinceDay(29);
    case '90d':
      return sinceDay(89);
    case 'mtd':
      return sinceDay(today.day - 1);
    case 'prev-month': {
      const start = local(today.year, today.month - 1, 1);
      const end = local(today.year, today.month, 1);
      return { from: start.at, fromDay: start.day, to: end.at, toDay: end.day };
    }
    case 'custom': {
      // Custom dates are calendar days in the chosen time zone; `to` is inclusive.
      const day = (text: string) => {
        const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
        return m ? { year: +m[1], month: +m[2], day: +m[3] } : null;
      };
      const from = day(f.from);
      const to = day(f.to);
      const start = from ? local(from.year, from.month, from.day) : null;
      const end = to ? local(to.year, to.month, to.day + 1) : null;
      return {
        from: start?.at ?? new Date(now.getTime() - 7 * 86_400_000),
        fromDay: start?.day ?? null,
        to: end?.at ?? now,
        toDay: end?.day ?? null,
      };
    }
  }
}
