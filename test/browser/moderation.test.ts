// Moderation in a real browser: engineers see flagged share by feature and category, the policy in
// force and the recent blocks (read from the page and compared with the API); admins edit a policy;
// finance has no Moderation page.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ModerationSummary } from '../../server/contract/moderation.js';
import { ADMIN_TOKEN } from '../support/stack.js';
import { chartData, SCREENSHOTS, startDashboardStack, type DashboardStack } from './browser.js';

let stack: DashboardStack;
const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

beforeAll(async () => {
  stack = await startDashboardStack();
  mkdirSync(SCREENSHOTS, { recursive: true });
  const feature = stack.features[0];
  const put = await fetch(`${stack.url}/api/admin/moderation/policies/${feature.slug}`, { method: 'PUT', headers: auth, body: JSON.stringify({ preset: 'strict', guardrail: 'block' }) });
  expect(put.status).toBe(200);
  const client = stack.client(feature);
  for (const input of ['Have a nice day', 'You idiot', 'They had a fight', 'Lovely weather']) await client.moderations.create({ input });
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'I will kill this bug' }] }).catch(() => undefined);
  await stack.ledger.flush();
}, 60_000);
afterAll(() => stack?.closeAll());

it('shows engineers what was flagged where, the policy in force and the recent blocks', async () => {
  const from = new Date(Date.now() - 86_400_000).toISOString();
  const to = new Date(Date.now() + 60_000).toISOString();
  const res = await fetch(`${stack.url}/api/moderation/summary?from=${from}&to=${to}`, { headers: auth });
  const summary = (await res.json()) as ModerationSummary;
  const calls = summary.series.reduce((n, s) => n + s.calls, 0);
  const flagged = summary.series.reduce((n, s) => n + s.flagged, 0);
  expect([calls, flagged]).toEqual([5, 3]);

  const { page } = await stack.signIn('engineer', '/moderation?range=24h');
  const footer = page.locator('[data-chart="moderation-flagged-share"] .card-footer');
  await expect.poll(() => footer.getAttribute('data-flagged')).toBe(String(flagged));
  await expect(footer.getAttribute('data-calls')).resolves.toBe(String(calls));
  const categories = await chartData(page, 'moderation-categories');
  expect(categories.datasets.map((d) => [d.label, d.data.reduce((a: number, b) => a + (b ?? 0), 0)]).sort()).toEqual([
    ['harassment', 1],
    ['violence', 2],
  ]);
  const policyRow = page.locator('[data-table="moderation-policies"] tbody tr', { hasText: 'Feature alpha' });
  await expect(policyRow.locator('[data-preset]').getAttribute('data-preset')).resolves.toBe('strict');
  await expect(policyRow.locator('[data-guardrail]').getAttribute('data-guardrail')).resolves.toBe('block');
  const blocked = page.locator('[data-table="moderation-recent"] tbody tr', { hasText: 'chat.completions' });
  await expect(blocked.locator('[data-action]').getAttribute('data-action')).resolves.toBe('blocked');
  await expect(blocked.innerText()).resolves.toContain('violence');
  // Engineers read; only admins edit.
  await expect(page.getByRole('button', { name: /Edit the moderation policy/ }).count()).resolves.toBe(0);
  await page.screenshot({ path: join(SCREENSHOTS, 'moderation.png'), fullPage: true });
});

it('lets admins edit a policy, and gives finance no Moderation page', async () => {
  const { page } = await stack.signIn('admin', '/moderation?range=24h');
  await page.getByRole('button', { name: 'Edit the moderation policy of Feature beta' }).click();
  const dialog = page.locator('dialog[open]');
  await dialog.locator('select[name="preset"]').selectOption('lenient');
  await dialog.locator('input[name="thresholds"]').fill('violence=0.3');
  await dialog.getByRole('button', { name: 'Save' }).click();
  const row = page.locator('[data-table="moderation-policies"] tbody tr', { hasText: 'Feature beta' });
  await expect.poll(() => row.locator('[data-preset]').getAttribute('data-preset')).toBe('lenient');
  await expect(row.innerText()).resolves.toContain('violence ≥ 0.3');
  const api = await (await fetch(`${stack.url}/api/moderation/policies/${stack.features[1].slug}`, { headers: auth })).json();
  expect(api).toMatchObject({ preset: 'lenient', thresholds: { violence: 0.3 } });

  const finance = await stack.signIn('finance', '/overview');
  await finance.page.locator('nav').waitFor();
  await expect(finance.page.locator('nav a', { hasText: 'Moderation' }).count()).resolves.toBe(0);
});
