// Admin and role boundaries in a real browser: gateway keys are shown once and work with the
// official SDK until revoked; finance cannot reach admin pages or APIs.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCREENSHOTS, startDashboardStack, type DashboardStack } from './browser.js';
import { moneyKeys } from '../support/money.js';

let stack: DashboardStack;
beforeAll(async () => {
  stack = await startDashboardStack();
  mkdirSync(SCREENSHOTS, { recursive: true });
}, 60_000);
afterAll(() => stack?.closeAll());

describe('admin in the browser', () => {
  it('issues a gateway key shown once that works with the SDK, and revoking it makes the SDK get 401', async () => {
    const { page } = await stack.signIn('admin', '/admin/gateway-keys');
    await page.locator('[data-table="gateway-keys"] tbody tr').first().waitFor();
    const before = await page.locator('[data-table="gateway-keys"] tbody tr').count();

    await page.getByRole('button', { name: 'Issue key' }).click();
    await page.getByLabel('Feature').selectOption({ label: `Feature alpha (feature-alpha)` });
    await page.getByLabel('Name').fill('browser-test');
    await page.getByRole('dialog').getByRole('button', { name: 'Issue key' }).click();
    const secret = page.locator('[data-secret]');
    await secret.waitFor();
    const key = await secret.inputValue();
    expect(key).toMatch(/^tg-/);
    await expect.poll(() => page.getByRole('button', { name: 'Copy' }).isVisible()).toBe(true);
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-gateway-key-issued.png') });
    await page.getByRole('button', { name: /Done/ }).click();
    await page.locator('[data-secret]').waitFor({ state: 'detached' });

    // Shown once: after the dialog, only the masked form is anywhere on the page.
    await expect.poll(() => page.locator('[data-table="gateway-keys"] tbody tr').count()).toBe(before + 1);
    expect(await page.content()).not.toContain(key);
    const row = page.locator('[data-table="gateway-keys"] tbody tr', { hasText: 'browser-test' });
    const masked = await row.locator('[data-masked]').textContent();
    expect(masked).toContain('…');
    expect(key.endsWith(masked!.split('…').at(-1)!)).toBe(true);

    const sdk = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: key, maxRetries: 0 });
    const reply = await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello from the dashboard test' }] });
    expect(reply.choices[0].message.content).toBeTruthy();

    await row.getByRole('button', { name: /Revoke/ }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke key' }).click();
    await row.getByText(/revoked/).waitFor();
    const error = await sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'again' }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(401);
  });

  it('creates and suspends an org, with upstream keys only ever shown masked', async () => {
    const { page } = await stack.signIn('admin', '/admin/orgs');
    await page.getByRole('button', { name: 'New organization' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').fill('gamma');
    await dialog.getByLabel('OpenAI org id').fill('org-gamma');
    await dialog.getByLabel('OpenAI API key').fill('sk-test-gamma-secret-0123456789');
    await dialog.getByRole('button', { name: 'Create' }).click();
    const row = page.locator('[data-table="orgs"] tbody tr', { hasText: 'org-gamma' });
    await row.waitFor();
    expect(await page.content()).not.toContain('sk-test-gamma-secret-0123456789');
    expect(await row.locator('[data-masked]').first().textContent()).toMatch(/^sk-.*…/);

    await row.getByRole('button', { name: 'Suspend gamma' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Suspend' }).click();
    await row.getByText('suspended').waitFor();
    const orgs = (await (await fetch(`${stack.url}/api/admin/orgs`, { headers: { authorization: `Bearer test-admin-token-0123456789abcdef` } })).json()) as Array<{ openaiOrgId: string; status: string }>;
    expect(orgs.find((o) => o.openaiOrgId === 'org-gamma')?.status).toBe('suspended');
    await page.screenshot({ path: join(SCREENSHOTS, 'admin-orgs.png'), fullPage: true });
  });
});

describe('roles', () => {
  it('finance sees spend pages but cannot reach admin pages or the admin API', async () => {
    const { page } = await stack.signIn('finance', '/overview');
    const nav = page.getByRole('navigation', { name: 'Main' });
    await expect.poll(() => nav.getByRole('link').allTextContents()).toEqual(['Overview', 'Finance', 'Batches', 'Alerts']);

    await page.goto('/admin/gateway-keys');
    await page.locator('[data-denied="/admin/gateway-keys"]').waitFor();
    expect(await page.locator('[data-table="gateway-keys"]').count()).toBe(0);

    // The session cookie is the finance user's: the API itself refuses, not only the page.
    const status = await page.evaluate(async () => {
      const list = await fetch('/api/admin/gateway-keys');
      const me = (await (await fetch('/api/auth/me')).json()) as { csrfToken: string };
      const issue = await fetch('/api/admin/orgs', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken }, body: JSON.stringify({ name: 'x', openaiOrgId: 'org-x' }) });
      return [list.status, issue.status];
    });
    expect(status).toEqual([403, 403]);
  });

  it('engineers see rate limits but not finance or admin', async () => {
    const { page } = await stack.signIn('engineer', '/overview');
    const nav = page.getByRole('navigation', { name: 'Main' });
    await expect.poll(() => nav.getByRole('link').allTextContents()).toEqual(['Overview', 'Rate limits', 'Moderation', 'Batches', 'Alerts']);
    // Their overview has traffic and throttling, and no spend (not even a "not for your role" card).
    await page.locator('[data-kpi="requests"][data-state="ready"]').waitFor();
    expect(await page.locator('[data-kpi="spend"]').count()).toBe(0);
    expect(await page.evaluate(() => Object.keys((globalThis as unknown as { __charts: object }).__charts))).not.toContain('overview-spend-by-feature');
    await page.goto('/finance');
    await page.locator('[data-denied="/finance"]').waitFor();
  });

  it("an engineer's pages neither request nor receive money", async () => {
    const { page } = await stack.signIn('engineer', '/overview');
    const answers: Array<Promise<{ url: string; money: string[] }>> = [];
    page.on('response', (response) => {
      const url = new URL(response.url());
      if (!url.pathname.startsWith('/api/') || !(response.headers()['content-type'] ?? '').includes('json')) return;
      answers.push(response.json().then((body: unknown) => ({ url: url.pathname, money: moneyKeys(body) }), () => ({ url: url.pathname, money: [] })));
    });
    await page.reload();
    await page.locator('[data-kpi="requests"][data-state="ready"]').waitFor();
    await page.goto('/rate-limits?range=24h&bucket=hour&tz=UTC');
    await page.waitForLoadState('networkidle');
    const seen = await Promise.all(answers);
    expect(seen.map((a) => a.url)).toContain('/api/analytics/usage');
    expect(seen.filter((a) => a.money.length)).toEqual([]);
  });

  it('admins see every page', async () => {
    const { page } = await stack.signIn('admin', '/overview');
    const nav = page.getByRole('navigation', { name: 'Main' });
    await expect.poll(() => nav.getByRole('link').allTextContents()).toEqual(['Overview', 'Finance', 'Rate limits', 'Moderation', 'Batches', 'Alerts', 'Admin']);
  });
});
