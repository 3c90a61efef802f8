// Local-day buckets are read as the nearest whole UTC days ± the hours at their edges. These cases
// pin the edges: what the daily rows hold but the bucket does not must come back out, in every
// zone, and a group seen only in those hours must not appear at all.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';
import { getJson, usageEvent, writeEvents } from './analytics-fixtures.js';

interface Report {
  series: Array<{ label: string; group: Record<string, string | null>; requests: number; spendNanos: string }>;
}

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
  const [a, b] = stack.features;
  await writeEvents(stack, [
    // 2025-06-10T02:00Z is June 9 in New York and June 10 in Tokyo.
    usageEvent({ createdAt: new Date('2025-06-10T02:00:00Z'), featureId: a.id, costNanos: '1000' }),
    usageEvent({ createdAt: new Date('2025-06-10T12:00:00Z'), featureId: b.id, costNanos: '20000' }),
    usageEvent({ createdAt: new Date('2025-06-10T23:30:00Z'), featureId: b.id, costNanos: '300000' }),
    usageEvent({ createdAt: new Date('2025-06-11T03:00:00Z'), featureId: a.id, costNanos: '4000000' }),
  ]);
});
afterAll(() => stack?.close());

async function days(tz: string) {
  const report = await getJson<Report>(stack, `/api/analytics/usage?from=2025-06-08&to=2025-06-13&tz=${encodeURIComponent(tz)}&interval=day&groupBy=feature`);
  const { rows } = await stack.db.query(
    `SELECT to_char(created_at AT TIME ZONE $1, 'YYYY-MM-DD') AS label, feature_id, count(*)::int AS requests, sum(cost_nanos)::text AS spend
     FROM usage_events GROUP BY 1, 2 ORDER BY 1, 2`,
    [tz],
  );
  const fromApi = report.series.map((p) => [p.label, p.group.feature, p.requests, p.spendNanos]).sort((x, y) => String(x).localeCompare(String(y)));
  const fromLedger = rows.map((r) => [r.label, r.feature_id, r.requests, r.spend]).sort((x, y) => String(x).localeCompare(String(y)));
  return { fromApi, fromLedger };
}

describe('local-day buckets', () => {
  for (const tz of ['America/New_York', 'Asia/Tokyo', 'UTC', 'Pacific/Kiritimati', 'America/Adak']) {
    it(`match a scan of the ledger exactly in ${tz}, with no phantom groups`, async () => {
      const { fromApi, fromLedger } = await days(tz);
      expect(fromApi).toEqual(fromLedger);
    });
  }
});
