// Batches in a real browser: a batch run through the gateway shows on the Batches page with its lines and
// cost at the batch price, Finance's spend by endpoint family draws it as its own "batch" line, and the
// monthly statement has it as a line of the batch tier. Engineers see the batch without its cost.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { toFile } from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { BatchList } from '../../server/contract/batches.js';
import { formatUsd } from '../../client/src/format.js';
import { ADMIN_TOKEN } from '../support/stack.js';
import { chartData, SCREENSHOTS, startDashboardStack, type DashboardStack } from './browser.js';

let stack: DashboardStack;
let batchId: string;

beforeAll(async () => {
  stack = await startDashboardStack({
    env: { BATCH_WATCH_INTERVAL_MS: '50', BATCH_POLL_MIN_MS: '50', BATCH_POLL_MAX_MS: '200' },
    simulator: { jobPhaseMs: 50 },
  });
  mkdirSync(SCREENSHOTS, { recursive: true });
  const client = stack.client();
  const lines = Array.from({ length: 20 }, (_, i) =>
    JSON.stringify({ custom_id: `n-${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `night ${i}` }] } }),
  );
  const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n')), 'nightly.jsonl'), purpose: 'batch' });
  batchId = (await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id;
  const end = Date.now() + 30_000;
  for (;;) {
    const { rows } = await stack.db.query('SELECT metered_at FROM batches WHERE id = $1', [batchId]);
    if (rows[0]?.metered_at) break;
    if (Date.now() > end) throw new Error('batch not metered in time');
    await new Promise((r) => setTimeout(r, 50));
  }
  await stack.ledger.flush();
}, 60_000);
afterAll(() => stack?.closeAll());

it('shows the batch with its lines and cost, as its own tier in spend and in the statement', async () => {
  const list = (await (await fetch(`${stack.url}/api/batches`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as BatchList;
  const batch = list.batches.find((b) => b.id === batchId)!;
  expect(batch).toMatchObject({ status: 'completed', linesMetered: 20, requestCompleted: 20 });
  expect(BigInt(batch.costNanos!)).toBeGreaterThan(0n);

  const { page } = await stack.signIn('finance', '/overview');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Batches' }).click();
  const row = page.locator('[data-table="batches"] tbody tr', { hasText: batchId });
  await row.waitFor();
  await expect(row.locator('[data-batch-status]').innerText()).resolves.toBe('completed');
  await expect(row.locator(`[data-batch-progress="${batchId}"]`).innerText()).resolves.toContain('Metered: 20 of 20 lines');
  await expect(row.locator('[data-cost-nanos]').getAttribute('data-cost-nanos')).resolves.toBe(batch.costNanos);
  await expect(row.locator('[data-cost-nanos]').innerText()).resolves.toContain(formatUsd(batch.costNanos, 4));
  await page.screenshot({ path: join(SCREENSHOTS, 'batches.png'), fullPage: true });

  await page.goto(`${stack.url}/finance?range=24h`);
  await expect.poll(async () => (await chartData(page, 'finance-spend-by-family')).datasets.map((d) => d.label)).toContain('batch');
  const family = (await chartData(page, 'finance-spend-by-family')).datasets.find((d) => d.label === 'batch')!;
  expect(family.data.reduce<number>((sum, v) => sum + (v ?? 0), 0)).toBeCloseTo(Number(batch.costNanos) / 1e9, 9);

  await page.locator('#statement-org').selectOption(stack.orgs[0].id);
  const line = page.locator('[data-table="statement"] tbody tr', { has: page.locator('[data-service-tier="batch"]') });
  await line.waitFor();
  await expect(line.innerText()).resolves.toContain('Batch');
  await expect(line.locator('[data-cost-nanos]').getAttribute('data-cost-nanos')).resolves.toBe(batch.costNanos);

  const engineer = await stack.signIn('engineer', '/batches');
  const engineerRow = engineer.page.locator('[data-table="batches"] tbody tr', { hasText: batchId });
  await engineerRow.waitFor();
  await expect(engineerRow.locator('[data-cost-nanos]').count()).resolves.toBe(0);
  await expect(engineer.page.locator('[data-table="batches"] thead').innerText()).resolves.not.toContain('Cost');
});
