// Browser-test helpers: build the dashboard if needed, start the stack, add one user per role,
// launch Debian's Chromium through playwright-core, and sign in through the real form.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Role } from '../../server/auth/roles.decorator.js';
import { UsersService } from '../../server/auth/users.service.js';
import { startStack, type Stack, type StackOptions } from '../support/stack.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CLIENT = join(ROOT, 'client');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/**
 * Where the page screenshots go: test-results/ (ignored by git) unless asked for. To refresh the
 * README's pictures: SCREENSHOTS_DIR=docs/screenshots npx vitest run test/browser
 */
export const SCREENSHOTS = resolve(ROOT, process.env.SCREENSHOTS_DIR ?? 'test-results/screenshots');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'dist' || entry.name === 'node_modules') continue;
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds client/ when client/dist is missing or older than a source file (npm test may skip pretest). */
export function ensureClientBuilt(): void {
  const index = join(CLIENT, 'dist/index.html');
  // The dashboard also bundles the API contract's CSV writer and types (server/contract).
  if (existsSync(index) && statSync(index).mtimeMs >= Math.max(newestMtime(CLIENT), newestMtime(join(ROOT, 'server/contract')))) return;
  execFileSync(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', CLIENT, '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
}

export interface Credentials {
  email: string;
  password: string;
}

export interface DashboardStack extends Stack {
  users: Record<Role, Credentials>;
  browser: Browser;
  /** A fresh browser context (own cookies) signed in as `role`, on `path`. */
  signIn(role: Role, path?: string, viewport?: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page }>;
  closeAll(): Promise<void>;
}

export async function startDashboardStack(options: StackOptions = {}): Promise<DashboardStack> {
  ensureClientBuilt();
  const stack = await startStack(options);
  const usersService = stack.app.get(UsersService);
  const users = {} as Record<Role, Credentials>;
  for (const role of ['admin', 'finance', 'engineer'] as const) {
    users[role] = { email: `${role}@example.com`, password: `correct horse ${role} battery` };
    await usersService.create({ ...users[role], role, name: `Test ${role}` });
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const contexts: BrowserContext[] = [];
  return {
    ...stack,
    users,
    browser,
    async signIn(role, path = '/overview', viewport = { width: 1360, height: 900 }) {
      const context = await browser.newContext({ viewport, baseURL: stack.url });
      contexts.push(context);
      const page = await context.newPage();
      page.on('pageerror', (error) => console.error(`[browser] ${error.message}`));
      await page.goto(path);
      await page.getByLabel('Email').fill(users[role].email);
      await page.getByLabel('Password').fill(users[role].password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator(`.role-badge[data-role="${role}"]`).waitFor();
      return { context, page };
    },
    async closeAll() {
      for (const context of contexts) await context.close().catch(() => undefined);
      await browser.close();
      await stack.close();
    },
  };
}

/** Waits until a chart panel finished loading (ready or empty, not loading) and returns its Chart.js data. */
export async function chartData(page: Page, id: string): Promise<{ labels: string[]; datasets: Array<{ label: string; data: Array<number | null> }> }> {
  await page.locator(`[data-chart="${id}"]:not([data-state="loading"])`).waitFor();
  return page.evaluate((chartId) => {
    // Runs in the page: the dashboard exposes its Chart.js instances as window.__charts.
    const charts = (globalThis as unknown as { __charts: Record<string, ChartLike> }).__charts;
    const chart = charts[chartId];
    return {
      labels: (chart.data.labels ?? []) as string[],
      datasets: chart.data.datasets.map((d) => ({ label: String(d.label), data: d.data as Array<number | null> })),
    };
  }, id);
}

interface ChartLike {
  data: { labels?: unknown[]; datasets: Array<{ label?: string; data: unknown[] }> };
}
