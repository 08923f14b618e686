import { defineConfig } from 'vitest/config';

/**
 * The tests Stryker runs against each mutant of core/ and the job stores (stryker.config.json):
 * the fast unit, store and handler tests, without synthesis, local mode or end-to-end suites.
 * The lifecycle property runs a twentieth of its histories per mutant (500 in memory, 10 on dynalite).
 */
export default defineConfig({
  test: {
    include: ['test/core/**/*.test.ts', 'test/store/**/*.test.ts', 'test/handlers/**/*.test.ts'],
    // Synthesizes the workflow (seconds per run), and checks limits the other core tests cover too.
    exclude: ['test/core/batch-limits.test.ts'],
    setupFiles: ['test/setup.ts'],
    env: { GPUJOBS_PROPERTY_HISTORIES_DIVISOR: '20' },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
