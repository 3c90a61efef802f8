// Finance's tasks in real Chromium, answers read from the page and compared with the API: the
// share column and the estimated/unpriced share of a spend view, CSVs that carry their period, and
// the statement's org and month in the URL (range-following, back/forward), its $0 rows explained
// and its file named with org, month and zone.
import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { formatPct } from '../../client/src/format.js';
import { ADMIN_TOKEN } from '../support/stack.js';
import { startDashboardStack, type DashboardStack } from './browser.js';

// Pages load several panels before the one asserted on; the machine may be busy.
vi.setConfig({ expect: { poll: { timeout: 15_000 } } });

let stack: DashboardStack;
const hour = (ms: number) => new Date(Math.floor(ms / 3_600_000) * 3_600_000).toISOString();

async function apiGet<T>(path: string): Promise<T> {
  const res = await fetch(`${stack.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(res.status, path).toBe(200);
  return (await res.json()) as T;
}

beforeAll(async () => {
  stack = await startDashboardStack();
  const [alpha, beta, broke] = stack.features;
  const ask = (client: ReturnType<DashboardStack['client']>, model = 'gpt-4o-mini') => client.chat.completions.create({ model, messages: [{ role: 'user', content: 'a question about invoices' }] }).catch((e: unknown) => e);
  for (let i = 0; i < 4; i++) await ask(stack.client(alpha));
  for (let i = 0; i < 2; i++) await ask(stack.client(beta), 'gpt-4o');
  await ask(stack.client(beta), 'computer-use-preview'); // no price: unpriced, not $0
  await ask(stack.client(broke)); // out of credit: a $0 line that must say why
  await stack.events();
}, 60_000);
afterAll(() => stack?.closeAll());

const download = async (page: Page, click: () => Promise<void>) => {
  const [file] = await Promise.all([page.waitForEvent('download'), click()]);
  return { name: file.suggestedFilename(), text: await readFile((await file.path())!, 'utf8') };
};

describe('finance', () => {
  it('shows each feature’s share of the total and the estimated and unpriced share in dollars and requests', async () => {
    const { context, page } = await stack.signIn('finance', '/finance?range=24h&bucket=hour&tz=UTC');
    const api = await apiGet<{ series: Array<{ groupLabel: string; spendNanos: string; requests: number; unpricedRequests: number; estimatedRequests: number; estimatedCostNanos: string }> }>(
      `/api/analytics/spend?${new URLSearchParams({ from: hour(Date.now() - 86_400_000), to: hour(Date.now() + 3_599_999), tz: 'UTC', groupBy: 'feature' })}`,
    );
    const total = api.series.reduce((s, p) => s + BigInt(p.spendNanos), 0n);
    const requests = api.series.reduce((s, p) => s + p.requests, 0);
    const unpriced = api.series.reduce((s, p) => s + p.unpricedRequests, 0);
    expect(unpriced).toBe(1);
    const rows = page.locator('[data-table="finance-feature"] tbody tr');
    await expect.poll(() => rows.count()).toBe(api.series.length);
    for (const p of api.series) {
      const share = rows.filter({ hasText: p.groupLabel }).locator('[data-share]');
      const expected = Number((BigInt(p.spendNanos) * 1_000_000n) / total) / 1_000_000;
      expect(Number(await share.getAttribute('data-share'))).toBe(expected);
      expect(await share.textContent()).toBe(formatPct(expected, 1));
    }
    const quality = page.locator('[data-quality="feature"]');
    expect(await quality.locator('[data-unpriced]').textContent()).toBe(`Unpriced: cost unknown, not in the total · 1 of ${requests} requests (${formatPct(1 / requests, 1)})`);
    const estimated = page.locator('[data-quality="feature"] [data-estimated-nanos]');
    expect(await estimated.getAttribute('data-estimated-nanos')).toBe(api.series.reduce((s, p) => s + BigInt(p.estimatedCostNanos), 0n).toString());
    expect(await estimated.getAttribute('data-estimated-requests')).toBe(String(api.series.reduce((s, p) => s + p.estimatedRequests, 0)));

    // The CSV carries its period: in its file name and in a column of every row.
    const csv = await download(page, () => page.locator('[data-csv="feature"]').click());
    expect(csv.name).toMatch(/^spend-by-feature_\d{4}-\d{2}-\d{2}T\d{4}Z_\d{4}-\d{2}-\d{2}T\d{4}Z_UTC\.csv$/);
    const [header, ...lines] = csv.text.trim().split('\r\n');
    expect(header.split(',').slice(0, 4)).toEqual(['feature', 'period_from', 'period_to', 'time_zone']);
    const [, from, to] = /_(.+?)_(.+?)_UTC\.csv$/.exec(csv.name)!;
    for (const line of lines) {
      const cells = line.split(',');
      expect(cells[1].replace(/:00(\.000)?Z$/, 'Z').replace(/:/g, '')).toBe(from);
      expect(cells[2].replace(/:00(\.000)?Z$/, 'Z').replace(/:/g, '')).toBe(to);
      expect(cells[3]).toBe('UTC');
    }
    await context.close();
  });

  it('keeps the statement’s org and month in the URL, follows the range, survives back/forward, explains $0 rows and names its file', async () => {
    const { context, page } = await stack.signIn('finance', '/finance?range=24h&tz=UTC');
    const [alpha, , broke] = stack.orgs;
    const thisMonth = new Date().toISOString().slice(0, 7);
    await expect.poll(() => page.locator('#statement-month').inputValue()).toBe(thisMonth);

    await page.locator('#statement-org').selectOption(broke.id);
    await expect.poll(() => new URL(page.url()).searchParams.get('statement')).toBe(broke.id);
    await expect.poll(() => page.locator('.statement-head').textContent()).toBe(`broke — ${thisMonth} (UTC)`);
    // Its only line failed (out of credit): $0, and the row says why.
    const zero = page.locator('[data-table="statement"] tbody tr').first();
    expect(await zero.locator('[data-cost-nanos]').textContent()).toBe('$0.00');
    expect(await zero.locator('[data-zero-reason]').textContent()).toContain('failed calls: OpenAI bills nothing for them');

    // The file is named by the server with org, month and zone.
    const csv = await download(page, () => page.locator('[data-csv="statement"]').click());
    expect(csv.name).toBe(`statement-broke-${thisMonth}-UTC.csv`);

    // Another month by hand, then back and forward.
    await page.locator('#statement-org').selectOption(alpha.id);
    await expect.poll(() => new URL(page.url()).searchParams.get('statement')).toBe(alpha.id);
    await expect.poll(() => page.locator('.statement-head').textContent()).toBe(`alpha — ${thisMonth} (UTC)`);
    await page.locator('#statement-month').fill('2026-01');
    await page.locator('#statement-month').dispatchEvent('change');
    await expect.poll(() => new URL(page.url()).searchParams.get('month')).toBe('2026-01');
    await expect.poll(() => page.locator('.statement-head').textContent()).toBe('alpha — 2026-01 (UTC)');
    await page.goBack();
    await expect.poll(() => page.locator('.statement-head').textContent()).toBe(`alpha — ${thisMonth} (UTC)`);
    await page.goBack();
    await expect.poll(() => page.locator('.statement-head').textContent()).toBe(`broke — ${thisMonth} (UTC)`);
    await page.goForward();
    await page.goForward();
    await expect.poll(() => page.locator('.statement-head').textContent()).toBe('alpha — 2026-01 (UTC)');

    // Choosing a range moves the statement to the range's month.
    await page.locator('#filter-range').selectOption('prev-month');
    const previous = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() - 1, 1)).toISOString().slice(0, 7);
    await expect.poll(() => page.locator('#statement-month').inputValue()).toBe(previous);
    expect(new URL(page.url()).searchParams.get('month')).toBeNull();
    expect(new URL(page.url()).searchParams.get('statement')).toBe(alpha.id);
    await context.close();
  });
});
