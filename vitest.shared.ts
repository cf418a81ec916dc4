import { defineConfig } from 'vitest/config';

/** One vitest configuration for every package (each package's vitest.config.ts re-exports it). */
export default defineConfig({
  test: {
    // Dawn's addon is stable in forked processes and crashes under worker threads (ENGINEERING.md).
    pool: 'forks',
    include: ['src/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
