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
          exclude: [...ignore, '**/*.db.test.ts', '**/*.kube.test.ts', 'e2e/**'],
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
        test: { name: 'e2e', include: ['e2e/src/**/*.test.ts'], exclude: ignore, ...shared, testTimeout: 120_000 },
      },
    ],
  },
});
