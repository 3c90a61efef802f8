import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Nest's constructor injection and TypeORM's @Column types need decorator metadata.
  oxc: { decorator: { legacy: true, emitDecoratorMetadata: true } },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // 2 cores: e2e files each start a gateway and a simulator; keep parallelism modest.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
