// The engineer's rate-limit tasks in real Chromium, answers read from the page and compared with
// the API and the ledger: headroom over the last hour as a share of the limit (minute points, gaps,
// the top five in the legend, one chosen series, keyboard focus kept), an org out of credit shown
// as failing in the headroom table, errors by kind with the minute each episode started and a 401
// explained, and the tables at laptop and phone widths.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { formatBucket, formatDateTime } from '../../client/src/format.js';
import type { HeadroomPoint } from '../../server/ratelimits/headroom.types.js';
import { ADMIN_TOKEN } from '../support/stack.js';
import { chartData, startDashboardStack, type DashboardStack } from './browser.js';

// Pages load several panels before the one asserted on; the machine may be busy.
vi.setConfig({ expect: { poll: { timeout: 15_000 } } });

let stack: DashboardStack;
const MODELS = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'gpt-4.1', 'gpt-4.1-nano', 'o3-mini', 'gpt-3.5-turbo'];

async function apiGet<T>(path: string): Promise<T> {
  const res = await fetch(`${stack.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(res.status, path).toBe(200);
  return (await res.json()) as T;
}
const ask = (client: OpenAI, model = 'gpt-4o-mini') =>
  client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hello there' }] }).then(
    () => 200,
    (e: InstanceType<typeof OpenAI.APIError>) => e.status,
  );

beforeAll(async () => {
  stack = await startDashboardStack();
  const [alpha, beta, broke] = stack.features;
  // Seven org · model pairs with headers: more than the five the legend shows.
  for (const model of MODELS) expect(await ask(stack.client(alpha), model)).toBe(200);
  for (let i = 0; i < 3; i++) expect(await ask(stack.client(beta))).toBe(200);
  for (let i = 0; i < 3; i++) expect(await ask(stack.client(broke))).toBe(429);
  // An org whose upstream key OpenAI refuses.
  const org = await stack.orgsService.createOrg({ name: 'revoked', openaiOrgId: 'org-revoked', baseUrl: stack.sim.url, apiKey: 'sk-revoked-0123456789' });
  const feature = await stack.orgsService.createFeature({ slug: 'feature-revoked', name: 'Feature revoked', defaultOrgId: org.id });
  const key = (await stack.orgsService.issueGatewayKey(feature.id, 'test')).key;
  for (let i = 0; i < 2; i++) expect(await ask(new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: key, maxRetries: 0 }))).toBe(401);
  // beta runs out of credit after its successful calls: its limits have room, its calls fail.
  const betaOrg = stack.orgs[1];
  stack.sim.setOrg({ id: betaOrg.openaiOrgId, keys: [betaOrg.upstreamKey], outOfCredit: true });
  for (let i = 0; i < 3; i++) expect(await ask(stack.client(beta))).toBe(429);
  stack.sim.setOrg({ id: betaOrg.openaiOrgId, keys: [betaOrg.upstreamKey] });
  await stack.events();
}, 90_000);
afterAll(() => stack?.closeAll());

describe('engineer: rate limits', () => {
  it('draws the last hour in minute points as a share of the limit, the top five in the legend, gaps where nothing was seen', async () => {
    const { context, page } = await stack.signIn('engineer', '/rate-limits?range=1h&tz=UTC');
    const chart = await chartData(page, 'ratelimits-requests-headroom');
    // 60 or 61 one-minute points, the last one still filling.
    expect([60, 61]).toContain(chart.labels.length);
    expect(chart.labels.at(-1)).toMatch(/\(so far\)$/);
    expect(await page.locator('#headroom-history').textContent()).toMatch(/^1-minute points/);
    expect(chart.datasets.length).toBe(5);

    // Each drawn value is the API's highest share of the limit in that minute.
    const api = await apiGet<{ data: Array<{ org: { name: string }; model: string; points: HeadroomPoint[] }> }>(`/api/headroom/series?from=${new Date(Date.now() - 3_600_000).toISOString()}`);
    expect(api.data.length).toBeGreaterThanOrEqual(MODELS.length);
    const labels = chart.labels.map((l) => l.replace(/ \(so far\)$/, ''));
    for (const d of chart.datasets) {
      const series = api.data.find((s) => `${s.org.name} · ${s.model}` === d.label)!;
      expect(series, d.label).toBeTruthy();
      for (const p of series.points) {
        const i = labels.indexOf(formatBucket(p.minute, 'minute', 'UTC'));
        expect(d.data[i]).toBeCloseTo(p.peakRequestsUtilisation ?? p.requestsUtilisation ?? 0, 9);
      }
      // Minutes without an observation are gaps, not zeros.
      expect(d.data.filter((v) => v === null).length).toBeGreaterThanOrEqual(labels.length - series.points.length);
    }

    // Choosing one org · model by keyboard draws it alone and keeps focus on the control.
    const select = page.locator('#headroom-series');
    expect(await select.locator('option').count()).toBe(api.data.length + 1);
    await select.focus();
    await page.keyboard.press('ArrowDown');
    await expect.poll(async () => (await chartData(page, 'ratelimits-requests-headroom')).datasets.length).toBe(1);
    expect(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { id: string } } }).document.activeElement.id)).toBe('headroom-series');
    expect(new URL(page.url()).searchParams.get('range')).toBe('1h');
    await context.close();
  });

  it('shows an org out of credit as failing, since the minute it started, and room as used, left and reset on one projection', async () => {
    const { context, page } = await stack.signIn('engineer', '/rate-limits?range=1h&tz=UTC');
    const betaRows = page.locator('[data-table="headroom-now"] tbody tr').filter({ hasText: 'beta' });
    await betaRows.first().waitFor();
    const { rows } = await stack.db.query<{ first: Date }>(`SELECT date_trunc('minute', min(created_at), 'UTC') AS first FROM usage_events WHERE org_id = $1 AND error_kind = 'quota'`, [stack.orgs[1].id]);
    const state = betaRows.first().locator('[data-state]');
    expect(await state.getAttribute('data-state')).toBe('billing');
    expect(await state.textContent()).toBe(`failing: billing (50% of calls, since ${formatDateTime(rows[0].first, 'UTC')})`);
    // alpha's calls all succeeded: ok.
    const alphaState = page.locator('[data-table="headroom-now"] tbody tr').filter({ hasText: 'alpha' }).first().locator('[data-state]');
    expect(await alphaState.getAttribute('data-state')).toBe('ok');
    // Used and left agree: left = floor(limit × (1 − used)), never "96% used" beside "0 of 20 left" on another basis.
    for (const cell of await page.locator('[data-table="headroom-now"] .limit-cell').all()) {
      const used = Number(await cell.getAttribute('data-used'));
      const left = Number(await cell.getAttribute('data-remaining'));
      const limit = Number(/of ([\d,]+) left/.exec((await cell.textContent())!)![1].replace(/,/g, ''));
      expect(left).toBe(Math.floor(limit * (1 - used) + 1e-9));
      expect(await cell.textContent()).toMatch(/· (full again|full in .+|reset unknown)$/);
    }
    await context.close();
  });

  it('lists errors by kind per org and feature with the minute each episode started, and explains a 401', async () => {
    const { context, page } = await stack.signIn('engineer', '/rate-limits?range=1h&tz=UTC');
    const table = page.locator('[data-table="errors-by-kind"]');
    await table.locator('tbody tr td:not(.empty)').first().waitFor();
    const { rows } = await stack.db.query<{ slug: string; first: Date; failures: number }>(
      `SELECT f.slug, date_trunc('minute', min(e.created_at), 'UTC') AS first, count(*)::int AS failures
       FROM usage_events e JOIN features f ON f.id = e.feature_id WHERE e.outcome <> 'ok' GROUP BY f.slug`,
    );
    const ledger = new Map(rows.map((r) => [r.slug, r]));

    const billing = table.locator('tbody tr').filter({ hasText: 'Feature broke' });
    expect(await billing.locator('[data-kind]').getAttribute('data-kind')).toBe('billing');
    expect(await billing.locator('td').nth(3).textContent()).toBe('3 of 3 (100%)');
    expect(await billing.locator('[data-start]').getAttribute('data-start')).toBe(ledger.get('feature-broke')!.first.toISOString());
    expect(await billing.locator('[data-start]').textContent()).toContain(`since ${formatDateTime(ledger.get('feature-broke')!.first, 'UTC')} (ongoing)`);

    const refused = table.locator('tbody tr').filter({ hasText: 'Feature revoked' });
    expect(await refused.locator('[data-kind]').textContent()).toBe('Upstream key refused');
    expect(await refused.locator('td').nth(3).textContent()).toBe('2 of 2 (100%)');
    expect(await refused.locator('.explanation').textContent()).toMatch(/refused this org's upstream key \(401 .*\).*rotate the org's upstream key/);

    // beta: 3 billing failures out of 6 calls.
    const beta = table.locator('tbody tr').filter({ hasText: 'Feature beta' });
    expect(await beta.locator('td').nth(3).textContent()).toBe('3 of 6 (50%)');
    await context.close();
  });

  it('fits its tables in their cards at 1,440 px and turns them into labelled cards at phone width', async () => {
    const { context, page } = await stack.signIn('engineer', '/rate-limits?range=1h&tz=UTC', { width: 1440, height: 900 });
    await page.locator('[data-table="headroom-now"] tbody tr td:not(.empty)').first().waitFor();
    const overflow = (selector: string) =>
      page.locator(selector).evaluate((el) => {
        const wrap = (el as unknown as { closest(s: string): { scrollWidth: number; clientWidth: number } }).closest('.table-wrap');
        return wrap.scrollWidth - wrap.clientWidth;
      });
    expect(await overflow('[data-table="headroom-now"]')).toBeLessThanOrEqual(0);
    await page.goto('/overview?range=1h&tz=UTC');
    await page.locator('[data-table="closest-to-limit"] tbody tr td:not(.empty)').first().waitFor();
    expect(await overflow('[data-table="closest-to-limit"]')).toBeLessThanOrEqual(0);
    await context.close();

    const phone = await stack.signIn('engineer', '/rate-limits?range=1h&tz=UTC', { width: 390, height: 844 });
    const cell = phone.page.locator('[data-table="headroom-now"] tbody tr td').nth(3);
    await cell.waitFor();
    expect(await phone.page.locator('[data-table="headroom-now"] thead').evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { display: string } }).getComputedStyle(el).display)).toBe('none');
    expect(await cell.getAttribute('data-label')).toBe('Requests (RPM)');
    const pageOverflow = await phone.page.evaluate(() => {
      const root = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement;
      return root.scrollWidth - root.clientWidth;
    });
    expect(pageOverflow).toBeLessThanOrEqual(0);
    await phone.context.close();
  });
});
