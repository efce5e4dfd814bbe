// `npm run test:enterprise [vitest args]`: runs the enterprise suite (vitest project
// `enterprise`: SSO through a real OpenID provider in Chromium, SCIM deprovisioning across two
// gateway replicas, AuditSinks through a real outage and an operator restart, GitOps attribution
// through the real apiserver), then writes what the tests measured to
// bench/results/enterprise.json. Every figure comes from this run; a part that did not run or
// did not measure is null, never a remembered value.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const args = process.argv.slice(2);
const figuresDir = mkdtempSync(path.join(tmpdir(), 'codevector-enterprise-figures-'));
const report = path.join(figuresDir, 'vitest.json');
const resultFile = path.join(root, 'bench/results/enterprise.json');
const started = Date.now();

const status =
  spawnSync(
    process.execPath,
    [
      path.join(root, 'node_modules/vitest/vitest.mjs'),
      'run',
      '--project',
      'enterprise',
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${report}`,
      ...args,
    ],
    { cwd: root, stdio: 'inherit', env: { ...process.env, CODEVECTOR_ENTERPRISE: '1', CODEVECTOR_ENTERPRISE_FIGURES: figuresDir } },
  ).status ?? 1;

type Assertion = { fullName: string; status: string; duration?: number };
type Report = { testResults: { name: string; assertionResults: Assertion[] }[] };
const results: Report = existsSync(report) ? (JSON.parse(readFileSync(report, 'utf8')) as Report) : { testResults: [] };
const tests = results.testResults.flatMap((file) =>
  file.assertionResults.map((a) => ({ file: path.basename(file.name), test: a.fullName, status: a.status })),
);
const parts: Record<string, Record<string, unknown>> = {};
for (const name of readdirSync(figuresDir).filter((f) => f.endsWith('.json') && f !== 'vitest.json'))
  parts[name.replace(/\.json$/, '')] = JSON.parse(readFileSync(path.join(figuresDir, name), 'utf8')) as Record<string, unknown>;
rmSync(figuresDir, { recursive: true, force: true });

// A headline figure counts only when every test of its file passed: a figure from a failed run
// is in `parts` for diagnosis, not presented as the result.
const passedFile = (file: string) => {
  const own = tests.filter((t) => t.file === file);
  return own.length > 0 && own.every((t) => t.status === 'passed');
};
const figure = (part: string, key: string, file: string) =>
  passedFile(file) && parts[part] && parts[part][key] !== undefined ? parts[part][key] : null;

const enterprise = {
  command: args.length > 0 ? `npm run test:enterprise -- ${args.join(' ')}` : 'npm run test:enterprise',
  measured_at: new Date().toISOString(),
  duration_s: Math.round((Date.now() - started) / 1000),
  machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
  sso_login_ok: figure('sso', 'sso_login_ok', 'sso-browser.enterprise.test.ts'),
  scim_deprovision_revoke_ms: figure('scim', 'scim_deprovision_revoke_ms', 'scim-deprovision.enterprise.test.ts'),
  sink_gap_rows: figure('sink', 'sink_gap_rows', 'audit-sink.enterprise.test.ts'),
  sink_outage_s: figure('sink', 'sink_outage_s', 'audit-sink.enterprise.test.ts'),
  sink_restart_gap_rows: figure('sink', 'sink_restart_gap_rows', 'audit-sink.enterprise.test.ts'),
  git_attributed_changes: figure('git', 'git_attributed_changes', 'git-origin.enterprise.test.ts'),
  tests_passed: tests.filter((t) => t.status === 'passed').length,
  tests_total: tests.length,
  parts,
  tests,
};
writeFileSync(resultFile, `${JSON.stringify(enterprise, null, 2)}\n`);
console.error(
  `[enterprise] ${enterprise.tests_passed}/${enterprise.tests_total} tests passed in ${enterprise.duration_s}s; written to bench/results/enterprise.json`,
);
process.exit(status === 0 && enterprise.tests_passed === enterprise.tests_total ? 0 : 1);
