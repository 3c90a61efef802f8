// The filter bar as each role sees it: every org, feature and model from the catalog (also a new
// org and feature with no traffic), names rather than ids, and a URL that names a feature by slug
// filtering every panel instead of breaking them.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usageEvent, writeEvents } from '../e2e/analytics-fixtures.js';
import { chartData, startDashboardStack, type DashboardStack } from './browser.js';

let stack: DashboardStack;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

beforeAll(async () => {
  stack = await startDashboardStack();
  const now = Date.now();
  await writeEvents(stack, [
    usageEvent({ createdAt: new Date(now - 3_600_000), orgId: stack.orgs[0].id, featureId: stack.features[0].id }),
    usageEvent({ createdAt: new Date(now - 3_600_000), orgId: stack.orgs[0].id, featureId: stack.features[0].id }),
    usageEvent({ createdAt: new Date(now - 3_600_000), orgId: stack.orgs[1].id, featureId: stack.features[1].id }),
  ]);
  const org = await stack.orgsService.createOrg({ name: 'Newco', openaiOrgId: 'org-newco', baseUrl: stack.sim.url });
  await stack.orgsService.createFeature({ slug: 'customer-service-chatbot', name: 'Customer service chatbot', defaultOrgId: org.id });
}, 60_000);
afterAll(() => stack?.closeAll());

const options = (page: Page, dim: string) => page.locator(`#filter-${dim} option`).allTextContents();

/** Waits until no panel (chart or KPI) is loading, then returns those that show an error. */
async function panelErrors(page: Page): Promise<string[]> {
  await expect.poll(() => page.locator('main [data-state]').count(), { timeout: 15_000 }).toBeGreaterThan(0);
  await expect.poll(() => page.locator('main [data-state="loading"]').count(), { timeout: 15_000 }).toBe(0);
  return page.locator('main [data-state="error"], main .state-error').allTextContents();
}

describe('filter lists come from the catalog', () => {
  for (const [role, path] of [
    ['finance', '/finance'],
    ['engineer', '/rate-limits'],
    ['engineer', '/overview'],
  ] as const) {
    it(`${role} on ${path}: every org, feature and model by name, also with no traffic`, async () => {
      const { rows: orgs } = await stack.db.query(`SELECT name FROM orgs`);
      const { rows: features } = await stack.db.query(`SELECT slug, name FROM features`);
      const { rows: models } = await stack.db.query(`SELECT DISTINCT model FROM prices`);
      const { context, page } = await stack.signIn(role, path);
      await expect.poll(async () => (await options(page, 'org')).length, { timeout: 15_000 }).toBe(orgs.length + 1);
      const orgNames = await options(page, 'org');
      expect(orgNames.slice(1).sort()).toEqual(orgs.map((o) => o.name as string).sort());
      expect(orgNames).toContain('Newco');
      const featureNames = await options(page, 'feature');
      expect(featureNames.slice(1).sort()).toEqual(features.map((f) => `${f.name as string} (${f.slug as string})`).sort());
      expect(featureNames).toContain('Customer service chatbot (customer-service-chatbot)');
      const modelNames = await options(page, 'model');
      expect(modelNames).toEqual(expect.arrayContaining(models.map((m) => m.model as string)));
      for (const text of [...orgNames, ...featureNames]) expect(text).not.toMatch(UUID);
      await context.close();
    });
  }
});

describe('a feature named by slug in the URL', () => {
  it('finance: every panel loads, filtered to that feature, and the filter shows it selected', async () => {
    const feature = stack.features[0];
    const { context, page } = await stack.signIn('finance', `/finance?range=24h&bucket=hour&tz=UTC&feature=${feature.slug}`);
    expect(await panelErrors(page)).toEqual([]);
    const { rows } = await stack.db.query(`SELECT count(*)::int AS n FROM usage_events WHERE feature_id = $1`, [feature.id]);
    const table = page.locator('[data-table="finance-feature"] tbody tr');
    await expect.poll(() => table.count()).toBe(1);
    expect(await table.locator('td').nth(1).textContent()).toBe(String(rows[0].n));
    expect(await page.locator('#filter-feature').inputValue()).toBe(feature.id);
    await context.close();
  });

  for (const path of ['/rate-limits', '/overview']) {
    it(`engineer on ${path}: no panel breaks`, async () => {
      const { context, page } = await stack.signIn('engineer', `${path}?range=24h&feature=customer-service-chatbot`);
      expect(await panelErrors(page)).toEqual([]);
      expect(await page.locator('#filter-feature option:checked').textContent()).toBe('Customer service chatbot (customer-service-chatbot)');
      await context.close();
    });
  }
});

describe('empty buckets and comparisons without earlier data', () => {
  it('finance, last 7 days by day: the chart has all 7 local days, the empty ones at zero', async () => {
    const tz = 'America/Los_Angeles';
    const { context, page } = await stack.signIn('finance', `/finance?range=7d&bucket=day&tz=${encodeURIComponent(tz)}`);
    const chart = await chartData(page, 'finance-spend-by-feature');
    const { rows } = await stack.db.query(
      `SELECT to_char(d, 'YYYY-MM-DD') AS day FROM generate_series(date_trunc('day', now() AT TIME ZONE $1) - interval '6 days', date_trunc('day', now() AT TIME ZONE $1), interval '1 day') d`,
      [tz],
    );
    expect(chart.labels.length).toBe(rows.length);
    // Today is still filling: its label says so.
    expect(chart.labels.at(-1)).toBe(`${new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', timeZone: tz }).format(new Date())} (so far)`);
    const perBucket = chart.labels.map((_, i) => chart.datasets.reduce((s, d) => s + (d.data[i] ?? 0), 0));
    expect(perBucket.filter((v) => v === 0).length).toBeGreaterThanOrEqual(rows.length - 2);
    const { rows: spend } = await stack.db.query(`SELECT sum(cost_nanos)::text AS n FROM usage_events`);
    expect(perBucket.reduce((s, v) => s + v, 0)).toBeCloseTo(Number(spend[0].n) / 1e9, 9);
    await context.close();
  });

  it('rate limits, last 24 hours: every 15-minute interval of the range is drawn, with or without 429s', async () => {
    const { context, page } = await stack.signIn('engineer', '/rate-limits?range=24h&tz=UTC');
    const started = Date.now();
    // The range is [now - 24 h, now), walked from the quarter hour it starts in: 97 intervals, or 96
    // when the page's "now" fell on a quarter hour.
    const step = 15 * 60_000;
    const hours = (now: number) => Math.ceil((now - Math.floor((now - 86_400_000) / step) * step) / step);
    for (const id of ['ratelimits-429s-by-feature', 'ratelimits-anonymous', 'ratelimits-requests-headroom']) {
      const chart = await chartData(page, id);
      expect([hours(started), hours(Date.now())], id).toContain(chart.labels.length);
      expect(new Set(chart.labels).size).toBe(chart.labels.length);
    }
    await context.close();
  });

  it('overview: "no earlier data" instead of a percentage, and "—" for an error rate with no requests', async () => {
    // All usage is from the last hour: the 7 days before the range hold nothing.
    const { context, page } = await stack.signIn('engineer', '/overview?range=7d');
    const requests = page.locator('[data-kpi="requests"]');
    await expect.poll(() => requests.getAttribute('data-state'), { timeout: 15_000 }).toBe('ready');
    expect(await requests.locator('.kpi-value').textContent()).toBe('3');
    expect(await requests.locator('.kpi-change').textContent()).toBe('no earlier data');
    expect(await page.locator('[data-kpi="error-rate"] .kpi-change').textContent()).toBe('no earlier data');
    expect(await page.locator('[data-kpi="error-rate"] .kpi-change').textContent()).not.toMatch(/%/);

    await page.goto('/overview?range=7d&feature=customer-service-chatbot');
    const rate = page.locator('[data-kpi="error-rate"]');
    await expect.poll(() => rate.getAttribute('data-state'), { timeout: 15_000 }).toBe('ready');
    await expect.poll(() => page.locator('[data-kpi="requests"] .kpi-value').textContent()).toBe('0');
    expect(await rate.locator('.kpi-value').textContent()).toBe('—');
    expect(await page.locator('[data-kpi="throttled"] .kpi-value').textContent()).toBe('—');
    await context.close();
  });
});
