// The alerting views in real Chromium, read from the page and compared with the API: the banner while
// something fires, the feature-health board on the Overview, the Alerts page for an admin (acknowledge,
// turn a rule off, send a test to a channel) and read-only for an engineer, and Finance's per-feature
// month to date, forecast (method stated) and budget.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatUsd } from '../../client/src/format.js';
import { AlertsEvaluator } from '../../server/alerts/alerts.evaluator.js';
import { HardBudgets } from '../../server/budgets/hard-budgets.js';
import { eventually, startReceiver, type Receiver } from '../support/receiver.js';
import { ADMIN_TOKEN } from '../support/stack.js';
import { SCREENSHOTS, startDashboardStack, type DashboardStack } from './browser.js';

let stack: DashboardStack;
let hook: Receiver;

async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(`${stack.url}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  expect(res.ok, `${path}: ${res.status} ${text}`).toBe(true);
  return (text ? JSON.parse(text) : undefined) as T;
}

interface AlertView {
  id: string;
  title: string;
  state: string;
  acknowledgedAt: string | null;
  ruleKind: string;
}
interface Health {
  featureSlug: string;
  featureName: string;
  state: string;
  orgName: string;
  since: string | null;
}
const STATE_TEXT: Record<string, string> = { ok: 'OK', billing_failure: 'Billing failure', paused: 'Paused by a hard limit', throttled: 'Throttled', upstream_errors: 'Upstream errors', budget_exhausted: 'Budget exhausted' };

beforeAll(async () => {
  hook = await startReceiver();
  stack = await startDashboardStack({ env: { ALERTS_EVAL_INTERVAL_MS: '500' } });
  mkdirSync(SCREENSHOTS, { recursive: true });
  const [alpha, beta, broke] = stack.features;
  const ask = (feature: typeof alpha) => stack.client(feature).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'a question about alerts' }] }).catch((e: unknown) => e);
  for (let i = 0; i < 3; i++) await ask(alpha);
  await ask(beta);
  for (let i = 0; i < 3; i++) await ask(broke);
  await stack.events();
  // A soft budget alpha has long passed (every threshold fires), a hard one beta has used up.
  await api('/api/budgets', { method: 'POST', body: { name: 'alpha soft', featureId: alpha.id, amountUsd: '0.000001', enforcement: 'soft' } });
  await api('/api/budgets', { method: 'POST', body: { name: 'beta hard', featureId: beta.id, amountUsd: '0.000001', enforcement: 'hard' } });
  await stack.app.get(HardBudgets).refresh();
  await stack.app.get(AlertsEvaluator).evaluate();
}, 90_000);
afterAll(async () => {
  await stack?.closeAll();
  await hook?.close();
});

describe('alerting in the dashboard', () => {
  it('the banner shows on every page while alerts fire, with the API count', async () => {
    const firing = (await api<{ alerts: AlertView[] }>('/api/alerts?state=firing')).alerts;
    expect(firing.length).toBeGreaterThanOrEqual(4); // 3 budget thresholds of alpha, 3 of beta, the broke org's billing failure
    const { page } = await stack.signIn('engineer', '/overview');
    for (const path of ['/overview', '/rate-limits', '/alerts']) {
      // The evaluator keeps running while the page loads: compare the banner with the API read at the
      // same moment (an alert may resolve or fire in between), reloading until the two agree.
      let count = '';
      await expect
        .poll(
          async () => {
            await page.goto(path);
            const banner = page.locator('[data-alert-banner]');
            await banner.waitFor({ state: 'visible' });
            count = String((await api<{ alerts: AlertView[] }>('/api/alerts?state=firing')).alerts.length);
            return (await banner.getAttribute('data-count')) === count;
          },
          { timeout: 20_000 },
        )
        .toBe(true);
      expect(await page.locator('[data-alert-banner] [data-banner-text]').textContent()).toContain(`${count} alerts firing`);
    }
  });

  it('the feature-health board shows each feature as the API does: one billing failure, one paused', async () => {
    const board = await api<{ features: Health[] }>('/api/alerts/feature-health');
    expect(board.features.map((f) => [f.featureSlug, f.state])).toEqual([
      ['feature-alpha', 'budget_exhausted'],
      ['feature-beta', 'paused'],
      ['feature-broke', 'billing_failure'],
    ]);
    const { page } = await stack.signIn('finance', '/overview');
    await page.locator('[data-feature-health]').first().waitFor();
    for (const f of board.features) {
      const tile = page.locator(`[data-feature-health="${f.featureSlug}"]`);
      expect(await tile.getAttribute('data-state')).toBe(f.state);
      expect(await tile.locator('[data-health-state]').textContent()).toBe(STATE_TEXT[f.state]);
      expect(await tile.locator('[data-health-org]').textContent()).toBe(`Org: ${f.orgName}`);
      expect(await tile.locator('h3').textContent()).toBe(f.featureName);
      if (f.state === 'billing_failure') expect(await tile.locator('[data-health-since]').getAttribute('data-health-since')).toBe(f.since);
    }
    await page.screenshot({ path: join(SCREENSHOTS, 'overview-feature-health.png'), fullPage: true });
  });

  it('an admin acknowledges an alert, turns a rule off and on, and sends a test to a channel from the Alerts page', async () => {
    await api('/api/alerts/channels', { method: 'POST', body: { kind: 'webhook', name: 'browser hook', url: `${hook.url}/b`, secret: 'browser-secret-0123456789' } });
    const { page } = await stack.signIn('admin', '/alerts');
    const firing = (await api<{ alerts: AlertView[] }>('/api/alerts?state=firing')).alerts;
    const rows = page.locator('[data-table="alerts-firing"] tbody tr');
    await page.locator('[data-table="alerts-firing"] [data-alert-title]').first().waitFor();
    expect(await rows.count()).toBe(firing.length);
    const titles = await page.locator('[data-table="alerts-firing"] [data-alert-title]').allTextContents();
    expect(titles.sort()).toEqual(firing.map((a) => a.title).sort());

    const billing = firing.find((a) => a.ruleKind === 'billing_failure')!;
    await page.locator('[data-table="alerts-firing"] tr', { has: page.locator(`[data-alert-title="${billing.id}"]`) }).getByRole('button', { name: 'Acknowledge' }).click();
    await eventually(async () => (await api<{ alerts: AlertView[] }>('/api/alerts?state=firing')).alerts.find((a) => a.id === billing.id)!.acknowledgedAt);

    const rules = await api<{ rules: Array<{ kind: string; enabled: boolean }> }>('/api/alerts/rules');
    expect(await page.locator('[data-table="alert-rules"] tbody tr').count()).toBe(rules.rules.length);
    const latencyRow = page.locator('[data-table="alert-rules"] tr', { has: page.locator('[data-rule="latency_p95"]') });
    await latencyRow.getByRole('button', { name: 'Turn off' }).click();
    await page.locator('[data-rule-state="latency_p95"]', { hasText: 'off' }).waitFor();
    expect((await api<{ rules: Array<{ kind: string; enabled: boolean }> }>('/api/alerts/rules')).rules.find((r) => r.kind === 'latency_p95')!.enabled).toBe(false);
    await latencyRow.getByRole('button', { name: 'Turn on' }).click();
    await page.locator('[data-rule-state="latency_p95"]', { hasText: 'on' }).waitFor();

    await page.locator('[data-table="alert-channels"] tr', { hasText: 'browser hook' }).getByRole('button', { name: 'Send test' }).click();
    await eventually(() => hook.received.length > 0);
    const deliveries = await eventually(async () => {
      const d = (await api<{ deliveries: Array<{ id: string; status: string; event: string }> }>('/api/alerts/deliveries')).deliveries.filter((x) => x.event === 'test');
      return d.length > 0 && d[0].status === 'delivered' && d;
    });
    await page.locator(`[data-delivery-status="${deliveries[0].id}"]`, { hasText: 'delivered' }).waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, 'alerts.png'), fullPage: true });
  });

  it('an admin adds an org budget from the Alerts page; the API has it to the nano-dollar', async () => {
    const { page } = await stack.signIn('admin', '/alerts');
    await page.locator('[data-table="budgets"] [data-budget-name]').first().waitFor();
    await page.getByRole('button', { name: 'Add budget' }).click();
    const dialog = page.locator('dialog[open]');
    await dialog.getByLabel('For', { exact: true }).selectOption({ label: `Org: ${stack.orgs[0].name}` });
    await dialog.getByLabel('Name').fill('alpha org cap');
    await dialog.getByLabel('Amount (USD, exact)').fill('1234.567890123');
    await dialog.getByLabel('Enforcement').selectOption('hard');
    await dialog.getByLabel('Alert thresholds (%)').fill('25, 75, 100');
    await dialog.getByLabel('Time zone of the period').fill('America/New_York');
    await dialog.getByRole('button', { name: 'Add' }).click();
    await page.locator('[data-table="budgets"] [data-budget-name]', { hasText: 'alpha org cap' }).waitFor();
    const created = (await api<{ budgets: Array<{ name: string; orgId: string | null; amountNanos: string; enforcement: string; thresholds: number[]; timeZone: string }> }>('/api/budgets')).budgets.find((b) => b.name === 'alpha org cap')!;
    expect(created).toMatchObject({ orgId: stack.orgs[0].id, amountNanos: '1234567890123', enforcement: 'hard', thresholds: [25, 75, 100], timeZone: 'America/New_York' });
    // Not left in force for the other tests.
    await page.locator('[data-table="budgets"] tr', { hasText: 'alpha org cap' }).getByRole('button', { name: 'Delete' }).click();
    await page.locator('dialog[open]').getByRole('button', { name: 'Delete' }).click();
    await eventually(async () => !(await api<{ budgets: Array<{ name: string }> }>('/api/budgets')).budgets.some((b) => b.name === 'alpha org cap'));
  });

  it('engineers and finance read the Alerts page without edit actions', async () => {
    for (const role of ['engineer', 'finance'] as const) {
      const { page } = await stack.signIn(role, '/alerts');
      await page.locator('[data-table="alerts-firing"] [data-alert-title]').first().waitFor();
      await page.locator('[data-read-only]').waitFor();
      expect(await page.getByRole('button', { name: 'Acknowledge' }).count()).toBe(0);
      expect(await page.getByRole('button', { name: 'Turn off' }).count()).toBe(0);
      expect(await page.getByRole('button', { name: 'Add channel' }).count()).toBe(0);
      expect(await page.getByRole('button', { name: 'Add budget' }).count()).toBe(0);
      // Budgets are money: finance reads them, engineers never get the card.
      if (role === 'finance') await page.locator('[data-table="budgets"] [data-budget-name]').first().waitFor();
      else expect(await page.locator('[data-section="budgets"]').count()).toBe(0);
    }
  });

  it("finance sees per feature the month to date, the forecast with its method, the budget and when it runs out", async () => {
    type Forecasts = { features: Array<{ featureSlug: string; monthToDateNanos: string; forecastNanos: string; forecastMethod: string; budget: { amountNanos: string; enforcement: string; runsOutAt: string | null } | null }> };
    // The forecast moves with the clock (the pace's window grows): compare the page with the answer it was drawn from,
    // and that answer with a fresh call to the API for what does not move.
    const context = await stack.browser.newContext({ viewport: { width: 1360, height: 900 }, baseURL: stack.url });
    // Live refresh off: the page keeps what it first drew.
    await context.addInitScript("localStorage.setItem('tallygate.live', 'off')");
    const page = await context.newPage();
    await page.goto('/finance?tz=UTC');
    await page.getByLabel('Email').fill(stack.users.finance.email);
    await page.getByLabel('Password').fill(stack.users.finance.password);
    const answer = page.waitForResponse((r) => r.url().includes('/api/budgets/features'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    const list = (await (await answer).json()) as Forecasts;
    const fresh = await api<Forecasts>('/api/budgets/features?tz=UTC');
    expect(fresh.features.map((f) => [f.featureSlug, f.monthToDateNanos, f.budget?.amountNanos])).toEqual(list.features.map((f) => [f.featureSlug, f.monthToDateNanos, f.budget?.amountNanos]));
    await page.locator('[data-table="finance-feature-forecast"] [data-mtd]').first().waitFor();
    for (const f of list.features) {
      expect(await page.locator(`[data-mtd="${f.featureSlug}"]`).textContent()).toBe(formatUsd(f.monthToDateNanos));
      expect(await page.locator(`[data-forecast="${f.featureSlug}"]`).textContent()).toBe(formatUsd(f.forecastNanos));
      expect(await page.locator(`[data-forecast-method="${f.featureSlug}"]`).textContent()).toBe(f.forecastMethod);
      expect(await page.locator(`[data-budget="${f.featureSlug}"]`).textContent()).toBe(f.budget ? `${formatUsd(f.budget.amountNanos)} ${f.budget.enforcement}` : 'none');
    }
    expect(list.features[0].forecastMethod).toMatch(/^linear/);
    expect(await page.locator('[data-runs-out="feature-beta"]').textContent()).toBe('used up: calls refused');
    expect(await page.locator('[data-runs-out="feature-broke"]').textContent()).toBe('—');
    await context.close();
  });
});
