// Months that cross a daylight-saving change, read from the Finance page in two time zones: the
// tables, the charts and the statement must hold what the database holds for that local month.
// The page's clock is fixed to a day in the following month so "Previous month" is the DST month.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usageEvent, writeEvents } from '../e2e/analytics-fixtures.js';
import { chartData, startDashboardStack, type DashboardStack } from './browser.js';

let stack: DashboardStack;

interface Case {
  tz: string;
  /** The local month (yyyy-mm) "Previous month" means at `now`. */
  month: string;
  next: string;
  now: string;
}
// Los Angeles leaves DST on 2026-11-01, Berlin on 2026-10-25; both enter it in March 2026.
const CASES: Case[] = [
  { tz: 'America/Los_Angeles', month: '2026-11', next: '2026-12', now: '2026-12-01T20:00:00Z' },
  { tz: 'Europe/Berlin', month: '2026-10', next: '2026-11', now: '2026-11-10T12:00:00Z' },
  { tz: 'Europe/Berlin', month: '2026-03', next: '2026-04', now: '2026-04-10T12:00:00Z' },
  { tz: 'America/Los_Angeles', month: '2026-03', next: '2026-04', now: '2026-04-10T12:00:00Z' },
  // British Columbia's permanent daylight time is in newer tz databases only (Postgres's and this
  // Chromium's have it, Node's ICU here not): the pages send local days, so they follow the server.
  { tz: 'America/Vancouver', month: '2026-11', next: '2026-12', now: '2026-12-01T20:00:00Z' },
];

/** The instant a local month starts, as Postgres computes it. */
async function monthStart(month: string, tz: string): Promise<Date> {
  const { rows } = await stack.db.query(`SELECT ($1::timestamp AT TIME ZONE $2) AS at`, [`${month}-01`, tz]);
  return rows[0].at as Date;
}

async function truth(c: Case): Promise<{ requests: number; inputTokens: number; costNanos: string; days: number }> {
  const { rows } = await stack.db.query(
    `SELECT count(*)::int AS requests, coalesce(sum(input_tokens), 0)::int AS input, coalesce(sum(cost_nanos), 0)::text AS cost,
       ($4::date - $3::date) AS days
     FROM usage_events WHERE org_id = $1 AND created_at >= ($3::timestamp AT TIME ZONE $2) AND created_at < ($4::timestamp AT TIME ZONE $2)`,
    [stack.orgs[0].id, c.tz, `${c.month}-01`, `${c.next}-01`],
  );
  return { requests: rows[0].requests, inputTokens: rows[0].input, costNanos: rows[0].cost, days: rows[0].days };
}

beforeAll(async () => {
  stack = await startDashboardStack();
  // Calls 30 minutes either side of every local month edge, each with its own token count, so a
  // range shifted by the hour of a DST change gains or loses a call and the totals differ.
  const edges = new Set<number>();
  for (const c of CASES) for (const m of [c.month, c.next]) edges.add((await monthStart(m, c.tz)).getTime());
  let n = 0;
  const events = [...edges].flatMap((edge) =>
    [-45, -15, 15, 45].map((minutes) =>
      usageEvent({
        createdAt: new Date(edge + minutes * 60_000),
        orgId: stack.orgs[0].id,
        featureId: stack.features[0].id,
        inputTokens: 100 + ++n,
        costNanos: String(1_000_000 * n),
      }),
    ),
  );
  // And one call mid-month, so each month has traffic away from its edges too.
  for (const c of CASES) events.push(usageEvent({ createdAt: new Date(`${c.month}-15T12:00:00Z`), orgId: stack.orgs[0].id, featureId: stack.features[0].id, inputTokens: 7, costNanos: '7000' }));
  await writeEvents(stack, events);
}, 60_000);
afterAll(() => stack?.closeAll());

describe('Finance across daylight-saving changes', () => {
  for (const c of CASES) {
    it(`${c.tz}, ${c.month} ("Previous month" on ${c.now}): tables, chart and statement equal the database`, async () => {
      const expected = await truth(c);
      expect(expected.requests).toBeGreaterThan(4);
      const { context, page } = await stack.signIn('finance', '/overview');
      await context.clock.setFixedTime(new Date(c.now));
      await page.goto(`/finance?range=prev-month&bucket=day&tz=${encodeURIComponent(c.tz)}`);

      // The feature table's total row.
      const foot = page.locator('[data-table="finance-feature"] tfoot td');
      await expect.poll(() => foot.nth(0).textContent(), { timeout: 15_000 }).toBe(expected.requests.toLocaleString('en-US'));
      expect(await foot.nth(1).textContent()).toBe(expected.inputTokens.toLocaleString('en-US'));
      expect(await page.locator('[data-table="finance-feature"] tfoot [data-cost-nanos]').getAttribute('data-cost-nanos')).toBe(expected.costNanos);
      // The org table agrees.
      expect(await page.locator('[data-table="finance-org"] tfoot [data-cost-nanos]').getAttribute('data-cost-nanos')).toBe(expected.costNanos);

      // The chart draws the same money.
      const chart = await chartData(page, 'finance-spend-by-feature');
      const drawn = chart.datasets.reduce((s, d) => s + d.data.reduce<number>((t, v) => t + (v ?? 0), 0), 0);
      expect(drawn).toBeCloseTo(Number(expected.costNanos) / 1e9, 9);
      // One bar per local day of the month, the days without calls at zero.
      expect(chart.labels.length).toBe(expected.days);

      // The statement for that org and month.
      await page.locator('#statement-org').selectOption(stack.orgs[0].id);
      await page.locator('#statement-month').fill(c.month);
      await page.locator('#statement-month').dispatchEvent('change');
      await expect.poll(() => page.locator('.statement-head').textContent()).toContain(`${c.month} (${c.tz})`);
      const total = page.locator('[data-statement-total]');
      await expect.poll(() => total.getAttribute('data-statement-total')).toBe(expected.costNanos);
      expect(await page.locator('[data-table="statement"] tfoot td').nth(1).textContent()).toBe(expected.requests.toLocaleString('en-US'));
      // A live refresh later must not paint another month over it.
      await page.waitForTimeout(200);
      expect(await total.getAttribute('data-statement-total')).toBe(expected.costNanos);
      expect(await page.locator('.statement-head').textContent()).toContain(`${c.month} (${c.tz})`);
      await context.close();
    });
  }
});
