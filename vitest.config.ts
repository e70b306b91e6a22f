import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    // Tests start real interpreters, databases and brokers: generous limits, noisy machines.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Most test time is waiting (child processes, outages, timer fires), not CPU: more files
    // at once than the 2 cores keeps the suite short without starving the timing-sensitive ones.
    maxWorkers: 4,
    minWorkers: 1,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
})
