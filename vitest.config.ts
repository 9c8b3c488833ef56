import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'jepsen-lite/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real processes on fixed loopback ports: keep files from overlapping.
    fileParallelism: true,
    pool: 'forks',
  },
});
