// meta.buckets: every bucket of a bucketed range, also those with no usage, so charts can draw
// empty buckets as zero. Local days and months follow the zone's DST changes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';
import { getJson, usageEvent, writeEvents } from './analytics-fixtures.js';

interface Report {
  meta: { buckets: Array<{ bucket: string; label: string }> };
  series: Array<{ bucket: string; label: string; requests: number }>;
}

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
  await writeEvents(stack, [usageEvent({ createdAt: new Date('2026-11-10T12:00:00Z'), featureId: stack.features[0].id })]);
});
afterAll(() => stack?.close());

const LA = encodeURIComponent('America/Los_Angeles');

describe('every bucket of the range', () => {
  it('a November by day in Los Angeles: 30 local days, the first at 07:00Z (PDT), the rest at 08:00Z', async () => {
    const report = await getJson<Report>(stack, `/api/analytics/usage?from=2026-11-01&to=2026-12-01&tz=${LA}&interval=day`);
    expect(report.series.length).toBe(1);
    expect(report.meta.buckets.length).toBe(30);
    expect(report.meta.buckets[0]).toEqual({ bucket: '2026-11-01T07:00:00.000Z', label: '2026-11-01' });
    expect(report.meta.buckets[1]).toEqual({ bucket: '2026-11-02T08:00:00.000Z', label: '2026-11-02' });
    expect(report.meta.buckets.at(-1)!.label).toBe('2026-11-30');
    // The one bucket with usage is one of them.
    expect(report.meta.buckets.map((b) => b.bucket)).toContain(report.series[0].bucket);
  });

  it('the local day of the change by hour has 25 hours; by month, empty months are listed', async () => {
    const hours = await getJson<Report>(stack, `/api/analytics/usage?from=2026-11-01&to=2026-11-02&tz=${LA}&interval=hour`);
    expect(hours.series.length).toBe(0);
    expect(hours.meta.buckets.length).toBe(25);
    const months = await getJson<Report>(stack, `/api/analytics/usage?from=2026-09-01&to=2027-01-01&tz=${LA}&interval=month`);
    expect(months.meta.buckets.map((b) => b.label)).toEqual(['2026-09', '2026-10', '2026-11', '2026-12']);
  });

  it('without an interval there are no buckets', async () => {
    const report = await getJson<Report>(stack, `/api/analytics/usage?from=2026-11-01&to=2026-12-01&tz=${LA}`);
    expect(report.meta.buckets).toEqual([]);
  });
});
