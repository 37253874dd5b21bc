import { defineConfig } from 'vitest/config';

/** `npm run test:browser`: the dashboard in headless Chromium. Kept apart so `npm test` never needs a browser. */
export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts', 'test/browser/build-dashboard.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
