import { defineConfig } from 'vitest/config';

// One config, four projects. File names say what a test needs (STYLE "Tests"):
//   x.test.ts       pure unit test
//   x.db.test.ts    a real PostgreSQL (fresh database per file)
//   x.kube.test.ts  a real kube-apiserver + etcd, plus PostgreSQL
//   e2e/**          whole-system tests
// The global setup starts embedded PostgreSQL (or uses DATABASE_URL) and the local control
// plane once per run; testbed/src/vitest-file-setup.ts gives each file its own database.
const shared = {
  globalSetup: ['testbed/src/vitest-global-setup.ts'],
  setupFiles: ['testbed/src/vitest-file-setup.ts'],
};
const ignore = ['**/node_modules/**', '**/dist/**', '.tools/**'];
// The fault suite (docs/reliability.md) starts its own PostgreSQL, control plane and processes per
// file and runs only through `npm run test:faults`, never in the default projects.
const faults = ['**/*.faults.test.ts', '**/*.soak.test.ts'];
// The cluster e2e (e2e/src/cluster/*.cluster.test.ts) builds images and starts a real node with its
// own control plane; it runs only through `npm run e2e:cluster`, which sets CODEVECTOR_CLUSTER.
const cluster = ['**/*.cluster.test.ts'];
// The agent conformance suite (e2e/src/agents/*.agents.test.ts) drives the real CLIs for minutes;
// it runs only through `npm run test:agents`, which sets CODEVECTOR_AGENTS and writes the matrix.
const agents = ['**/*.agents.test.ts'];
// The enterprise suite (e2e/src/enterprise/*.enterprise.test.ts: SSO in Chromium, SCIM across
// gateway replicas, AuditSinks through a one-minute outage, GitOps attribution) runs only through
// `npm run test:enterprise`, which sets CODEVECTOR_ENTERPRISE and writes bench/results/enterprise.json.
const enterprise = ['**/*.enterprise.test.ts'];

export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['**/src/**/*.test.ts', '**/src/**/*.test.tsx'],
          exclude: [...ignore, ...faults, '**/*.db.test.ts', '**/*.kube.test.ts', 'e2e/**'],
        },
      },
      {
        extends: true,
        test: { name: 'db', include: ['**/src/**/*.db.test.ts'], exclude: ignore, ...shared },
      },
      {
        extends: true,
        test: { name: 'kube', include: ['**/src/**/*.kube.test.ts'], exclude: ignore, ...shared },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['e2e/src/**/*.test.ts'],
          exclude: [...ignore, ...faults, ...cluster, ...agents, ...enterprise],
          ...shared,
          testTimeout: 120_000,
          // Whole-system checks poll what a browser or a background writer shows; on a loaded
          // 2-core machine (CI with other work) a second is not always enough.
          expect: { poll: { timeout: 10_000, interval: 100 } },
        },
      },
      // Only through run-faults.ts (`npm run test:faults`), which sets CODEVECTOR_FAULTS; one file
      // at a time, since each one measures memory and latency of processes sharing two cores.
      ...(process.env['CODEVECTOR_CLUSTER']
        ? [
            {
              extends: true,
              test: {
                name: 'cluster',
                include: ['e2e/src/cluster/*.cluster.test.ts'],
                fileParallelism: false,
                testTimeout: 300_000,
                hookTimeout: 2_400_000,
                expect: { poll: { timeout: 10_000, interval: 100 } },
              },
            },
          ]
        : []),
      ...(process.env['CODEVECTOR_AGENTS']
        ? [
            {
              extends: true,
              test: {
                name: 'agents',
                include: ['e2e/src/agents/*.agents.test.ts'],
                ...shared,
                fileParallelism: false,
                testTimeout: 240_000,
                expect: { poll: { timeout: 10_000, interval: 100 } },
              },
            },
          ]
        : []),
      ...(process.env['CODEVECTOR_ENTERPRISE']
        ? [
            {
              extends: true,
              test: {
                name: 'enterprise',
                include: ['e2e/src/enterprise/*.enterprise.test.ts'],
                ...shared,
                // One file at a time: the outage and revocation figures are timings on two cores.
                fileParallelism: false,
                testTimeout: 120_000,
                expect: { poll: { timeout: 10_000, interval: 100 } },
              },
            },
          ]
        : []),
      ...(process.env['CODEVECTOR_FAULTS']
        ? [
            {
              extends: true,
              test: { name: 'faults', include: ['e2e/src/faults/*.faults.test.ts'], fileParallelism: false, testTimeout: 240_000 },
            },
            { extends: true, test: { name: 'soak', include: ['e2e/src/faults/*.soak.test.ts'], testTimeout: 3_600_000 } },
          ]
        : []),
    ],
  },
});
