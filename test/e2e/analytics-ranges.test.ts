// The dashboard's range presets (client/src/filters.ts) against Postgres, in every IANA zone the
// runtime knows: local midnights must be the ones Postgres computes (with the offset in force on
// that day, DST included), not today's offset applied to another day.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveRange, type Filters } from '../../client/src/ranges.js';
import { startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());

// Days just after a DST change in one hemisphere or the other, and one with none near.
const NOWS = ['2026-12-01T20:00:00Z', '2026-11-10T12:00:00Z', '2026-04-10T12:00:00Z', '2026-03-30T03:00:00Z', '2026-10-05T18:00:00Z', '2026-07-15T00:30:00Z'];
const base: Omit<Filters, 'range' | 'tz'> = { from: '', to: '', org: '', feature: '', model: '', bucket: 'day' };

describe('range presets in every time zone', () => {
  it('month to date, previous month, last 7/30/90 days and custom days start at the local midnight Postgres gives', async () => {
    const zones = Intl.supportedValuesOf('timeZone');
    expect(zones.length).toBeGreaterThan(300);
    const cases = zones.flatMap((tz) => NOWS.map((now) => ({ tz, now })));
    const { rows } = await stack.db.query(
      `SELECT c.tz, c.now,
         date_trunc('month', c.now AT TIME ZONE c.tz) AT TIME ZONE c.tz AS mtd,
         (date_trunc('month', c.now AT TIME ZONE c.tz) - interval '1 month') AT TIME ZONE c.tz AS prev,
         (date_trunc('day', c.now AT TIME ZONE c.tz) - interval '6 days') AT TIME ZONE c.tz AS d7,
         (date_trunc('day', c.now AT TIME ZONE c.tz) - interval '29 days') AT TIME ZONE c.tz AS d30,
         (date_trunc('day', c.now AT TIME ZONE c.tz) - interval '89 days') AT TIME ZONE c.tz AS d90,
         '2026-10-25'::timestamp AT TIME ZONE c.tz AS custom_from, '2026-11-02'::timestamp AT TIME ZONE c.tz AS custom_to
       FROM unnest($1::text[], $2::timestamptz[]) AS c(tz, now)`,
      [cases.map((c) => c.tz), cases.map((c) => c.now)],
    );
    const mismatches: string[] = [];
    // Node's ICU and Postgres may carry different tz database releases (a zone that changed its
    // rules lately, e.g. America/Vancouver): where ICU does not read Postgres's instant as a
    // midnight, the two databases disagree and the case says nothing about the algorithm. The
    // analytics API resolves dates with Postgres itself, so those pages agree with it anyway.
    const differing = new Set<string>();
    const localTime = (at: Date, tz: string) => new Intl.DateTimeFormat('en-US', { timeZone: tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(at);
    const check = (label: string, got: Date, want: Date) => {
      if (got.getTime() === want.getTime()) return;
      const tz = label.split(' @ ')[0];
      if (localTime(want, tz) !== '00:00') differing.add(tz);
      else mismatches.push(`${label}: ${got.toISOString()} instead of ${want.toISOString()}`);
    };
    for (const r of rows as Array<Record<string, Date | string>>) {
      const tz = r.tz as string;
      const now = r.now as Date;
      const at = (range: Filters['range'], extra: Partial<Filters> = {}) => resolveRange({ ...base, range, tz, ...extra }, now);
      const id = `${tz} @ ${now.toISOString()}`;
      check(`${id} mtd`, at('mtd').from, r.mtd as Date);
      check(`${id} prev-month from`, at('prev-month').from, r.prev as Date);
      check(`${id} prev-month to`, at('prev-month').to, r.mtd as Date);
      check(`${id} 7d`, at('7d').from, r.d7 as Date);
      check(`${id} 30d`, at('30d').from, r.d30 as Date);
      check(`${id} 90d`, at('90d').from, r.d90 as Date);
      const custom = at('custom', { from: '2026-10-25', to: '2026-11-01' });
      check(`${id} custom from`, custom.from, r.custom_from as Date);
      check(`${id} custom to`, custom.to, r.custom_to as Date);
    }
    expect(mismatches.slice(0, 20)).toEqual([]);
    expect(differing.size, [...differing].join(', ')).toBeLessThan(5);
  });
});
