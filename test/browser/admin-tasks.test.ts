// The admin's tasks in real Chromium, answers read from the page and compared with the API and the
// database: after a rotation, which key carries traffic, its age and last use, and "revoke the
// previous key"; one clear message per form field; the issued key shown whole with the real
// gateway URL; the audit log by name, filterable, sign-ins hidden by default.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { formatDateTime } from '../../client/src/format.js';
import type { KeyUsageResponse } from '../../server/contract/key-usage.js';
import { ADMIN_TOKEN } from '../support/stack.js';
import { startDashboardStack, type DashboardStack } from './browser.js';

// Pages load several panels before the one asserted on; the machine may be busy.
vi.setConfig({ expect: { poll: { timeout: 15_000 } } });

let stack: DashboardStack;
const NEW_KEY = 'sk-test-alpha-rotated-0123456789abcdef';

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${stack.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  expect(res.status, `${method} ${path}`).toBeLessThan(300);
  return (await res.json()) as T;
}
const ask = (client: OpenAI) => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

beforeAll(async () => {
  stack = await startDashboardStack();
  const alpha = stack.orgs[0];
  await ask(stack.client(stack.features[0]));
  // Rotation: OpenAI knows both keys for a while; Tallygate gets the new one and sends with it.
  stack.sim.setOrg({ id: alpha.openaiOrgId, keys: [alpha.upstreamKey, NEW_KEY] });
  await api('POST', `/api/admin/orgs/${alpha.id}/keys`, { apiKey: NEW_KEY, label: 'rotated' });
  await ask(stack.client(stack.features[0]));
  await stack.events();
}, 60_000);
afterAll(() => stack?.closeAll());

describe('admin', () => {
  it('after a rotation marks the key carrying traffic, with age and last use, and offers to revoke the previous one', async () => {
    const alpha = stack.orgs[0];
    const usage = await api<KeyUsageResponse>('GET', '/api/admin/key-usage');
    const keys = usage.upstreamKeys.filter((k) => k.orgId === alpha.id);
    expect(keys).toHaveLength(2);
    const { rows } = await stack.db.query<{ id: string; masked: string; created_at: Date }>(`SELECT id, masked, created_at FROM upstream_keys WHERE org_id = $1 ORDER BY created_at`, [alpha.id]);
    const [old, rotated] = rows;
    const { rows: last } = await stack.db.query<{ at: Date }>(`SELECT max(created_at) AS at FROM usage_events WHERE org_id = $1`, [alpha.id]);
    expect(keys.find((k) => k.id === rotated.id)).toMatchObject({ carrying: true, lastUsedAt: last[0].at.toISOString(), supersededAt: null });
    expect(keys.find((k) => k.id === old.id)).toMatchObject({ carrying: false, supersededAt: rotated.created_at.toISOString() });

    const { context, page } = await stack.signIn('admin', '/admin/orgs');
    const row = page.locator('[data-table="orgs"] tbody tr', { hasText: 'org-alpha' });
    const newItem = row.locator('li', { hasText: rotated.masked });
    const oldItem = row.locator('li', { hasText: old.masked });
    await newItem.locator('[data-carrying="true"]').waitFor();
    expect(await newItem.locator('.key-markers').textContent()).toContain(`last used ${formatDateTime(last[0].at)}`);
    expect(await newItem.locator('.key-markers').textContent()).toMatch(/age \d+ min/);
    expect(await oldItem.locator('.key-markers').textContent()).toContain(`replaced ${formatDateTime(rotated.created_at)}`);
    await oldItem.getByRole('button', { name: /Revoke the previous key/ }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke key' }).click();
    await expect.poll(async () => (await stack.db.query(`SELECT revoked_at FROM upstream_keys WHERE id = $1`, [old.id])).rows[0].revoked_at).not.toBeNull();
    expect((await stack.db.query(`SELECT revoked_at FROM upstream_keys WHERE id = $1`, [rotated.id])).rows[0].revoked_at).toBeNull();
    // Calls still go out with the new key.
    expect((await ask(stack.client(stack.features[0]))).choices.length).toBe(1);
    await context.close();
  });

  it('says what is wrong once, under the field, and shows the issued key whole with the real gateway URL', async () => {
    const { context, page } = await stack.signIn('admin', '/admin/orgs');
    await page.getByRole('button', { name: 'New organization' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').fill('delta');
    await dialog.getByLabel('OpenAI org id').fill('not-an-org-id');
    await dialog.getByRole('button', { name: 'Create' }).click();
    const error = dialog.locator('.field-error');
    await error.waitFor();
    expect(await error.textContent()).toBe('OpenAI org id: Must look like org-… (OpenAI organization id)');
    expect(await dialog.textContent()).not.toContain('openaiOrgId');
    expect(await dialog.getByLabel('OpenAI org id').getAttribute('aria-invalid')).toBe('true');
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    await page.goto('/admin/gateway-keys');
    await page.getByRole('button', { name: 'Issue key' }).click();
    await page.getByLabel('Feature').selectOption({ label: 'Feature beta (feature-beta)' });
    await page.getByLabel('Name').fill('whole-key');
    await page.getByRole('dialog').getByRole('button', { name: 'Issue key' }).click();
    const secret = page.locator('[data-secret]');
    await secret.waitFor();
    const key = await secret.inputValue();
    // Nothing of the key is cut off: the field is as wide as its text.
    expect(await secret.evaluate((el) => (el as unknown as { scrollWidth: number; clientWidth: number; scrollHeight: number; clientHeight: number }).scrollWidth <= (el as unknown as { clientWidth: number }).clientWidth)).toBe(true);
    expect(await secret.evaluate((el) => (el as unknown as { scrollHeight: number }).scrollHeight <= (el as unknown as { clientHeight: number }).clientHeight + 1)).toBe(true);
    expect(await page.getByRole('dialog').locator('.warning').textContent()).toContain(`base URL ${stack.url}/v1`);
    const sdk = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: key, maxRetries: 0 });
    expect((await ask(sdk)).choices.length).toBe(1);
    await page.getByRole('button', { name: /Done/ }).click();
    await context.close();
  }, 90_000);

  it('shows the audit log by name, without sign-ins unless asked, filtered by action, actor and target', async () => {
    const { context, page } = await stack.signIn('admin', '/admin/audit');
    const rows = page.locator('[data-table="audit"] tbody tr');
    await rows.first().waitFor();
    const all = await api<Array<{ action: string; targetId: string | null; targetName: string | null }>>('GET', '/api/admin/audit?limit=1000&signIns=include');
    expect(all.some((r) => r.action === 'auth.sign_in')).toBe(true);
    const changes = all.filter((r) => !r.action.startsWith('auth.'));
    await expect.poll(() => rows.count()).toBe(changes.length);
    expect(await page.locator('[data-table="audit"]').textContent()).not.toContain('auth.sign_in');
    // The revoked key's entry names the key and its org, not a uuid.
    const revoke = rows.filter({ hasText: 'upstream_key.revoke' });
    expect(await revoke.locator('[data-target-id]').textContent()).toMatch(/^upstream key sk-.*…\w+ \(alpha\)$/);
    expect(await revoke.locator('td').nth(3).textContent()).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);

    await page.locator('#audit-action').selectOption('upstream_key');
    await expect.poll(() => new URL(page.url()).searchParams.get('action')).toBe('upstream_key');
    await expect.poll(async () => (await rows.locator('td:nth-child(3)').allTextContents()).every((a) => a.startsWith('upstream_key.'))).toBe(true);
    expect(await rows.count()).toBe(changes.filter((r) => r.action.startsWith('upstream_key.')).length);

    await page.locator('#audit-action').selectOption('');
    await page.locator('#audit-target').fill('beta');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('target')).toBe('beta');
    await expect.poll(async () => (await rows.locator('[data-target-id]').allTextContents()).every((t) => t.includes('beta'))).toBe(true);
    expect(await rows.count()).toBeGreaterThan(0);

    await page.locator('#audit-target').fill('');
    await page.locator('#audit-actor').fill('admin@example.com');
    await page.locator('#audit-signins').check();
    // Each filter change reloads the table after a debounce: generous under a loaded CI machine.
    await expect.poll(async () => (await rows.locator('td:nth-child(3)').allTextContents()).includes('auth.sign_in'), { timeout: 30_000 }).toBe(true);
    await context.close();
  }, 90_000);
});
