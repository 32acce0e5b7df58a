import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // A forgotten .only would silently skip the rest of the suite in CI.
    allowOnly: false,
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**', 'test/faults/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
