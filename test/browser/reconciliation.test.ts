// Finance → Reconciliation in a real browser: the table shows the API's figures, the gap outside Tallygate is
// named with its key id, an org without an admin key says reconciliation is off, and admins get the key forms.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ReconciliationReport } from '../../server/reconciliation/reconciliation.dto.js';
import { SyncService } from '../../server/reconciliation/sync.service.js';
import { simulatedKeyId } from '../../server/simulator/simulator.js';
import { formatUsd } from '../../client/src/format.js';
import { ADMIN_TOKEN } from '../support/stack.js';
import { SCREENSHOTS, startDashboardStack, type DashboardStack } from './browser.js';

let stack: DashboardStack;
const directKey = 'sk-direct-browser-0123456789abcdef';
const adminKey = 'sk-admin-browser-0123456789abcdef';

beforeAll(async () => {
  stack = await startDashboardStack({ env: { RECON_SYNC_INTERVAL_MS: '0', RECON_BACKFILL_DAYS: '2' } });
  mkdirSync(SCREENSHOTS, { recursive: true });
  const alpha = stack.orgs[0];
  stack.sim.setOrg({ id: alpha.openaiOrgId, keys: [alpha.upstreamKey, directKey], adminKeys: [adminKey] });
  await stack.orgsService.setAdminKey(alpha.id, adminKey);
  const [key] = (await stack.orgsService.getOrg(alpha.id)).upstreamKeys;
  await stack.orgsService.setUpstreamKeyOpenaiId(alpha.id, key.id, simulatedKeyId(alpha.upstreamKey));
  for (let i = 0; i < 3; i++) await stack.client().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `question ${i}` }] });
  await new OpenAI({ baseURL: stack.sim.url, apiKey: directKey, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'around the gateway' }] });
  await stack.ledger.flush();
  expect((await stack.app.get(SyncService).syncOrg(alpha.id)).result).toBe('synced');
}, 60_000);
afterAll(() => stack?.closeAll());

it('shows the ledger beside OpenAI, the gap outside Tallygate and which orgs are off', async () => {
  const today = new Date().toISOString().slice(0, 10);
  const res = await fetch(`${stack.url}/api/analytics/reconciliation?from=${today}&to=${today}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const report = (await res.json()) as ReconciliationReport;
  const line = report.days.find((d) => d.orgId === stack.orgs[0].id)!;
  expect(BigInt(line.differenceNanos)).toBeGreaterThan(0n);

  const { page } = await stack.signIn('finance', '/finance/reconciliation?range=24h');
  const row = page.locator('[data-table="reconciliation"] tbody tr', { hasText: stack.orgs[0].name }).filter({ hasText: today });
  await row.waitFor();
  await expect(row.locator('[data-difference-nanos]').getAttribute('data-difference-nanos')).resolves.toBe(line.differenceNanos);
  await expect(row.locator('[data-difference-nanos]').innerText()).resolves.toContain(formatUsd(line.differenceNanos, 6));
  await expect(row.locator('[data-gap="outside_tallygate"]').innerText()).resolves.toContain(simulatedKeyId(directKey));

  const off = page.locator('[data-table="reconciliation-status"] tbody tr', { hasText: stack.orgs[1].name });
  await expect(off.innerText()).resolves.toContain('Off: no admin key');
  // Finance reads; only admins manage keys.
  await expect(page.getByRole('button', { name: /admin key/i }).count()).resolves.toBe(0);

  await row.getByRole('button', { name: 'Details' }).click();
  await page.locator('[data-table="reconciliation-keys"] tbody tr', { hasText: 'outside Tallygate' }).waitFor();
  await page.screenshot({ path: join(SCREENSHOTS, 'reconciliation.png'), fullPage: true });

  const adminView = await stack.signIn('admin', '/finance/reconciliation?range=24h');
  await adminView.page.getByRole('button', { name: `Set the admin key of ${stack.orgs[1].name}` }).waitFor();
});
