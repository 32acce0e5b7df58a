// The fault-injection and crash suite (test/faults/): real redis-server and service processes,
// so files run one at a time (they would steal each other's two cores) with generous timeouts;
// every scenario bounds its own duration. `npm run test:faults`.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // A forgotten .only would silently skip the rest of the suite in CI.
    allowOnly: false,
    include: ['test/faults/**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
