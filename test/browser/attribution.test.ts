// Finance groups spend by a tag in the dashboard: the top values, "(other)" and "(untagged)", a
// hostile tag value shown as text (never as markup), and the statement per customer adding up.
import OpenAI from 'openai';
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

describe('Admin: tags', () => {
  it('declares a tag and makes it required on a feature from the dashboard; the gateway then refuses untagged calls', async () => {
    const { context, page } = await stack.signIn('admin', '/admin/tags');
    await page.getByRole('button', { name: 'Declare tag' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').fill('customer');
    await dialog.getByLabel('Values kept per month').fill('250');
    await dialog.getByRole('button', { name: 'Declare' }).click();
    await page.locator('[data-table="tags"] tbody tr', { hasText: 'customer' }).waitFor();
    expect(await page.locator('[data-table="tags"] tbody tr', { hasText: 'customer' }).textContent()).toContain('250');

    await page.goto(`${stack.url}/admin/features`);
    const feature = stack.features[0];
    await page.getByRole('button', { name: `Tags of Feature ${stack.orgs[0].name}` }).click();
    const tags = page.getByRole('dialog');
    await tags.getByLabel('Default tags').fill('env=prod');
    await tags.getByLabel('Required tags').fill('customer');
    await tags.getByRole('button', { name: 'Save' }).click();
    await tags.waitFor({ state: 'detached' });
    await context.close();

    const { rows } = await stack.db.query(`SELECT default_tags, required_tags FROM feature_attribution WHERE feature_id = $1`, [feature.id]);
    expect(rows[0]).toEqual({ default_tags: { env: 'prod' }, required_tags: ['customer'] });
    const sdk = stack.client(feature);
    const error = await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    const ok = await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-tallygate-tag-customer': 'acme' } });
    expect(ok.choices.length).toBe(1);
  });
});
