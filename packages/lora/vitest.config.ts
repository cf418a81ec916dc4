import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Dawn's addon is stable in forked processes and crashes under worker threads (ENGINEERING.md).
    pool: 'forks',
    include: ['src/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
