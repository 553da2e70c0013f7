import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', '.data/**'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    // Integration tests start real processes; give them room, but never rely on time for correctness.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
