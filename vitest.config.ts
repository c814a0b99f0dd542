import { defineConfig } from 'vitest/config';

// Two projects: `unit` starts no server, but needs what `npm run import` needs (Go, Maven,
// Java 21+ for Strimzi's CRD generator) and the linters test/lint installs (shellcheck,
// hadolint, yamllint, Checkov); `integration` runs against the real kube-apiserver, Kafka
// broker and PostgreSQL that the global setup provisions and starts.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.int.test.ts', 'node_modules/**'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // The infrastructure is shared; files run one at a time to keep the 2-core machine honest.
          fileParallelism: false,
        },
      },
    ],
  },
});
