import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// Browser tests drive Debian's Chromium. On a machine without it they are left out with a note;
// in CI (CI=true) they always run, so a missing browser fails loudly instead of passing quietly.
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const withBrowser = existsSync(chromium) || !!process.env.CI;
if (!withBrowser) console.warn(`Browser tests skipped: no Chromium at ${chromium} (apt-get install chromium, or set CHROMIUM_PATH).`);

export default defineConfig({
  // Nest's constructor injection and TypeORM's @Column types need decorator metadata.
  oxc: { decorator: { legacy: true, emitDecoratorMetadata: true } },
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', ...(withBrowser ? [] : ['test/browser/**'])],
    globalSetup: ['test/support/global-setup.ts'],
    // 2 cores: e2e files each start a gateway and a simulator; keep parallelism modest.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
