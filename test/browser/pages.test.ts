// The dashboard's pages against seeded traffic: charts hold the API's numbers (read from the
// Chart.js instances, not pixels), tables match the analytics API, each page is screenshotted.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatUsd } from '../../client/src/format.js';
import { AnonymousRequests } from '../../server/ratelimits/anonymous-requests.service.js';
import { ADMIN_TOKEN } from '../support/stack.js';
import { chartData, SCREENSHOTS, startDashboardStack, type DashboardStack } from './browser.js';

let stack: DashboardStack;
const hour = (ms: number) => new Date(Math.floor(ms / 3_600_000) * 3_600_000).toISOString();

async function apiGet<T>(path: string): Promise<T> {
  const res = await fetch(`${stack.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(res.status, `${path}: ${res.status}`).toBe(200);
  return (await res.json()) as T;
}

/** A few calls per feature, some throttled, one retried by the SDK, one out of credit. */
async function seedTraffic(): Promise<void> {
  const [alpha, beta, broke] = stack.features;
  const ask = (client: OpenAI, content: string, fault?: string) =>
    client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] }, fault ? { headers: { 'x-sim-fault': fault } } : undefined).catch((e: unknown) => e);
  for (let i = 0; i < 6; i++) await ask(stack.client(alpha), `alpha question ${i} about the ledger`);
  for (let i = 0; i < 3; i++) await ask(stack.client(beta), `beta question ${i}, a bit longer so it costs a little more than alpha`);
  await stack.client(beta).embeddings.create({ model: 'text-embedding-3-small', input: 'embed me' });
  // A model the price list does not have: its cost is unknown, shown on its own line.
  await stack.client(beta).chat.completions.create({ model: 'computer-use-preview', messages: [{ role: 'user', content: 'no price for me' }] });
  await ask(stack.client(alpha), 'throttled by requests', '429-requests');
  await ask(stack.client(beta), 'throttled by tokens', '429-tokens');
  await ask(stack.client(alpha, { maxRetries: 1 }), 'retried by the SDK', '429-requests');
  await ask(stack.client(broke), 'no credit');
  // Two calls without an issued key: counted per reason, no ledger row.
  await fetch(`${stack.url}/v1/models`);
  await new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: 'not-a-tallygate-key', maxRetries: 0 }).models.list().catch((e: unknown) => e);
  await stack.app.get(AnonymousRequests).flush();
  await stack.events();
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

beforeAll(async () => {
  stack = await startDashboardStack();
  mkdirSync(SCREENSHOTS, { recursive: true });
  await seedTraffic();
}, 60_000);
afterAll(() => stack?.closeAll());

describe('dashboard pages with seeded traffic', () => {
  it('finance: spend charts and tables hold exactly what the analytics API returns', async () => {
    const { page } = await stack.signIn('finance', '/finance?range=24h&bucket=hour&tz=UTC');
    const api = await apiGet<{ series: Array<{ group: { feature?: string }; groupLabel: string; spendNanos: string; requests: number }> }>(
      `/api/analytics/spend?${new URLSearchParams({ from: hour(Date.now() - 86_400_000), to: hour(Date.now() + 3_599_999), tz: 'UTC', groupBy: 'feature' })}`,
    );
    const spendByFeature = new Map(api.series.map((p) => [p.groupLabel, p]));
    expect(spendByFeature.size).toBeGreaterThanOrEqual(2);

    const chart = await chartData(page, 'finance-spend-by-feature');
    for (const [label, point] of spendByFeature) {
      if (BigInt(point.spendNanos) === 0n) continue;
      const dataset = chart.datasets.find((d) => d.label === label);
      expect(dataset, `dataset for ${label}`).toBeTruthy();
      const drawn = dataset!.data.reduce<number>((s, v) => s + (v ?? 0), 0);
      expect(drawn).toBeCloseTo(Number(point.spendNanos) / 1e9, 9);
    }

    const rows = page.locator('[data-table="finance-feature"] tbody tr');
    await expect.poll(() => rows.count()).toBe([...spendByFeature.values()].length);
    for (const [label, point] of spendByFeature) {
      const row = rows.filter({ hasText: label });
      expect(await row.locator('td').nth(1).textContent()).toBe(point.requests.toLocaleString('en-US'));
      expect(await row.locator('[data-cost-nanos]').getAttribute('data-cost-nanos')).toBe(point.spendNanos);
      expect(await row.locator('[data-cost-nanos]').textContent()).toBe(formatUsd(point.spendNanos));
    }

    // Unpriced spend is its own line under the totals, never folded into them as $0.
    const unpriced = page.locator('[data-unpriced-requests]').first();
    await expect.poll(() => unpriced.getAttribute('data-unpriced-requests')).toBe('1');
    expect(await unpriced.textContent()).toMatch(/^Unpriced: 1 requests used a model without a price/);

    // Spend by endpoint family: chat and embeddings drawn apart, as the API groups them.
    const families = await apiGet<{ series: Array<{ group: { family?: string }; spendNanos: string }> }>(
      `/api/analytics/spend?${new URLSearchParams({ from: hour(Date.now() - 86_400_000), to: hour(Date.now() + 3_599_999), tz: 'UTC', groupBy: 'family' })}`,
    );
    const byFamily = new Map<string, number>();
    for (const p of families.series) byFamily.set(p.group.family!, (byFamily.get(p.group.family!) ?? 0) + Number(p.spendNanos) / 1e9);
    expect([...byFamily.keys()].sort()).toEqual(['chat', 'embeddings']);
    const familyChart = await chartData(page, 'finance-spend-by-family');
    for (const [family, usd] of byFamily) {
      const dataset = familyChart.datasets.find((d) => d.label === family);
      expect(dataset, `dataset for ${family} in ${JSON.stringify(familyChart.datasets.map((d) => d.label))}`).toBeTruthy();
      expect(dataset!.data.reduce<number>((sum, v) => sum + (v ?? 0), 0)).toBeCloseTo(usd, 9);
    }

    // The Realtime section is there, and says when there is nothing to count.
    await expect.poll(() => page.locator('[data-table="finance-realtime"] tbody').textContent()).toContain('No Realtime sessions or WebRTC keys in this range.');

    // The statement for the first org adds up to the API's total.
    const alphaOrg = stack.orgs[0];
    const month = new Date().toISOString().slice(0, 7);
    await page.locator('#statement-org').selectOption(alphaOrg.id);
    const statement = await apiGet<{ total: { costNanos: string } }>(`/api/analytics/statements?org=${alphaOrg.id}&month=${month}&tz=UTC`);
    await expect.poll(() => page.locator('[data-statement-total]').getAttribute('data-statement-total')).toBe(statement.total.costNanos);
    expect(BigInt(statement.total.costNanos)).toBeGreaterThan(0n);
    // No admin key in this stack: the statement says reconciliation is off rather than showing a $0 bill.
    await expect.poll(() => page.locator('[data-recon-status]').getAttribute('data-recon-status')).toBe('off');
    expect(await page.locator('.statement-recon').textContent()).toContain('Reconciliation off');
    await shot(page, 'finance');
  });

  it('overview: KPIs, spend by feature and the closest-to-limit list are drawn', async () => {
    const { page } = await stack.signIn('admin', '/overview?range=24h&bucket=hour&tz=UTC');
    const mtd = await apiGet<{ totals: { spendNanos: string } }>('/api/analytics/month-to-date?tz=UTC');
    await expect.poll(() => page.locator('[data-kpi-value="spend"]').textContent()).toBe(formatUsd(mtd.totals.spendNanos));
    await expect.poll(() => page.locator('[data-kpi="throttled"]').getAttribute('data-state')).toBe('ready');
    const chart = await chartData(page, 'overview-spend-by-feature');
    expect(chart.datasets.length).toBeGreaterThanOrEqual(2);
    expect(chart.datasets.flatMap((d) => d.data).some((v) => (v ?? 0) > 0)).toBe(true);
    await page.locator('[data-table="closest-to-limit"] tbody tr td:not(.empty)').first().waitFor();
    await shot(page, 'overview');

    // Filters live in the URL: choosing a feature rewrites the query string and the chart follows.
    await page.locator('#filter-feature').selectOption(stack.features[1].id);
    await expect.poll(() => new URL(page.url()).searchParams.get('feature')).toBe(stack.features[1].id);
    await expect.poll(async () => (await chartData(page, 'overview-spend-by-feature')).datasets.length).toBe(1);
  });

  it('rate limits: headroom against the limit, 429s by kind, retries and latency are drawn', async () => {
    const { page } = await stack.signIn('engineer', '/rate-limits?range=24h&bucket=hour&tz=UTC');
    // Headroom as a share of each limit: every drawn value is a fraction, at least one above zero.
    const headroom = await chartData(page, 'ratelimits-requests-headroom');
    expect(headroom.datasets.length).toBeGreaterThan(0);
    const shares = headroom.datasets.flatMap((d) => d.data).filter((v): v is number => v !== null);
    expect(shares.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(shares.some((v) => v > 0)).toBe(true);

    const throttles = await chartData(page, 'ratelimits-429s-by-feature');
    const total = (suffix: string) => throttles.datasets.filter((d) => d.label.endsWith(suffix)).flatMap((d) => d.data).reduce<number>((s, v) => s + (v ?? 0), 0);
    // alpha: one 429 plus one SDK retry of it; beta: one tokens 429; broke: one quota error.
    expect(total('· requests')).toBe(3);
    expect(total('· tokens')).toBe(1);
    expect(total('· quota')).toBe(1);
    const retries = await chartData(page, 'ratelimits-retries');
    expect(retries.datasets[0].data.reduce<number>((s, v) => s + (v ?? 0), 0)).toBe(1);

    const latency = await chartData(page, 'ratelimits-latency');
    expect(latency.datasets.map((d) => d.label)).toEqual(['p50', 'p95', 'p99', 'TTFB p50']);
    expect(latency.datasets[0].data.some((v) => (v ?? 0) > 0)).toBe(true);

    const anonymous = await chartData(page, 'ratelimits-anonymous');
    const byReason = Object.fromEntries(anonymous.datasets.map((d) => [d.label, d.data.reduce<number>((s, v) => s + (v ?? 0), 0)]));
    expect(byReason).toEqual({ 'no key': 1, 'malformed key': 1 });
    await shot(page, 'rate-limits');
  });

  it('works at a narrow width and screenshots the admin pages', async () => {
    const { page } = await stack.signIn('admin', '/overview?range=24h&bucket=hour&tz=UTC', { width: 420, height: 900 });
    await chartData(page, 'overview-spend-by-feature');
    const overflow = await page.evaluate(() => {
      const root = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement;
      return root.scrollWidth - root.clientWidth;
    });
    expect(overflow).toBeLessThanOrEqual(0);
    await shot(page, 'overview-narrow');
    const { page: wide } = await stack.signIn('admin', '/admin/features');
    await wide.locator('[data-table="features"] tbody tr td:not(.empty)').first().waitFor();
    await shot(wide, 'admin-features');
    await wide.goto('/admin/audit');
    await wide.locator('[data-table="audit"] tbody tr').first().waitFor();
    await shot(wide, 'admin-audit');
  });
});
