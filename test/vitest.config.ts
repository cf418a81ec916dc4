import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Each test spawns Deno or Bun; forks keep any native addon out of worker threads.
    pool: 'forks',
    include: ['*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
