// Finance groups spend by a tag in the dashboard: the top values, "(other)" and "(untagged)", a
// hostile tag value shown as text (never as markup), and the statement per customer adding up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usageEvent, writeEvents } from '../e2e/analytics-fixtures.js';
import { chartData, startDashboardStack, type DashboardStack } from './browser.js';

let stack: DashboardStack;
const HOSTILE = '<img src=x onerror="window.__pwned=1">';

beforeAll(async () => {
  stack = await startDashboardStack();
  const at = new Date(Date.now() - 3_600_000);
  const base = { createdAt: at, orgId: stack.orgs[0].id, featureId: stack.features[0].id };
  await writeEvents(stack, [
    usageEvent({ ...base, costNanos: '3000000', tags: { customer: 'acme' } }),
    usageEvent({ ...base, costNanos: '2000000', tags: { customer: 'acme' } }),
    usageEvent({ ...base, costNanos: '1000000', tags: { customer: HOSTILE } }),
    usageEvent({ ...base, costNanos: '500000', tags: { customer: null } }),
    usageEvent({ ...base, costNanos: '4000000' }),
  ]);
}, 60_000);
afterAll(() => stack?.closeAll());

describe('Finance: spend by tag', () => {
  it('groups by customer with other and untagged, escapes values, and the statement per customer adds up', async () => {
    const { context, page } = await stack.signIn('finance', '/finance?range=7d');
    await expect.poll(() => page.locator('#finance-tag option').allTextContents(), { timeout: 15_000 }).toContain('Tag: customer');
    const rows = page.locator('[data-table="finance-tag"] tbody tr');
    await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(4);
    const names = await page.locator('[data-table="finance-tag"] tbody tr th, [data-table="finance-tag"] tbody tr td:first-child').allTextContents();
    expect(names).toEqual(['acme', '(untagged)', HOSTILE, '(other)']); // by spend
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator('[data-table="finance-tag"] img').count()).toBe(0);
    const chart = await chartData(page, 'finance-spend-by-tag');
    expect(chart.datasets.map((d) => d.label).sort()).toEqual(['(other)', '(untagged)', 'acme', HOSTILE].sort());
    const total = await page.locator('[data-table="finance-tag"] tfoot [data-cost-nanos]').getAttribute('data-cost-nanos');
    expect(total).toBe('10500000');

    const statementTotal = page.locator('[data-tag-statement-total]');
    await expect.poll(() => statementTotal.getAttribute('data-tag-statement-total'), { timeout: 15_000 }).toBe('10500000');
    const values = await page.locator('[data-table="tag-statement"] tbody tr > :first-child').allTextContents();
    expect(values).toEqual(['acme', '(untagged)', HOSTILE, '(other)']);
    await context.close();
  });
});
