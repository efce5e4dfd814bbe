// `npm run test:faults [-- --soak] [vitest args]`: runs the fault suite (vitest project
// `faults`, and with --soak also `soak`), then sums what the tests measured into
// bench/results/reliability.json. Every figure there comes from this run's measurements (or,
// for the soak figures on a run without --soak, from the last run that measured them, with its date).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const args = process.argv.slice(2);
const soak = args.includes('--soak');
const passThrough = args.filter((a) => a !== '--soak');
const figuresDir = mkdtempSync(path.join(tmpdir(), 'codevector-fault-figures-'));
const report = path.join(figuresDir, 'vitest.json');
const resultFile = path.join(root, 'bench/results/reliability.json');

// The soak runs after the faults, never beside them: both measure latency and memory of
// processes sharing the machine's two cores.
const runProject = (project: string, report: string) =>
  spawnSync(
    process.execPath,
    [
      path.join(root, 'node_modules/vitest/vitest.mjs'),
      'run',
      '--project',
      project,
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${report}`,
      ...passThrough,
    ],
    { cwd: root, stdio: 'inherit', env: { ...process.env, CODEVECTOR_FAULTS: '1', CODEVECTOR_FAULT_FIGURES: figuresDir } },
  ).status ?? 1;
const statuses = [runProject('faults', report)];
if (soak) statuses.push(runProject('soak', path.join(figuresDir, 'vitest-soak.json')));

type Assertion = { title: string; fullName: string; status: string };
type Report = { testResults: { name: string; assertionResults: Assertion[] }[] };
const results: Report = existsSync(report) ? (JSON.parse(readFileSync(report, 'utf8')) as Report) : { testResults: [] };
const faults: { file: string; test: string; status: string }[] = [];
for (const file of results.testResults) {
  if (!file.name.endsWith('.faults.test.ts')) continue;
  for (const a of file.assertionResults) {
    // The hostile-input table's cases are counted as hostile_cases/hostile_refused, not as faults.
    if (a.fullName.startsWith('hostile input ')) continue;
    // A test that documents an open bug (`it.fails`, title starting "KNOWN BUG") passes in vitest but is not a fault survived.
    const status = /KNOWN BUG/.test(a.fullName) ? 'known-bug' : a.status;
    faults.push({ file: path.basename(file.name), test: a.fullName, status });
  }
}

const figures: Record<string, Record<string, unknown>> = {};
for (const name of readdirSync(figuresDir).filter((f) => f.endsWith('.json') && !f.startsWith('vitest'))) {
  const value = JSON.parse(readFileSync(path.join(figuresDir, name), 'utf8')) as Record<string, unknown> & { fault: string };
  figures[value.fault] = value;
}
const previous = existsSync(resultFile) ? (JSON.parse(readFileSync(resultFile, 'utf8')) as Record<string, unknown>) : {};
// A run of some files only (`npm run test:faults -- <file>…`) replaces those files' entries and
// figures and keeps the others from the last run that measured them.
const ranFiles = new Set(results.testResults.map((file) => path.basename(file.name)));
const partial = passThrough.some((a) => a.endsWith('.test.ts'));
if (partial) {
  for (const kept of (previous['faults'] as typeof faults | undefined) ?? []) if (!ranFiles.has(kept.file)) faults.push(kept);
  for (const [fault, value] of Object.entries((previous['figures'] as Record<string, Record<string, unknown>> | undefined) ?? {})) {
    if (!(fault in figures)) figures[fault] = value;
  }
}
const sum = (key: string) =>
  Object.entries(figures)
    .filter(([fault]) => fault !== 'soak')
    .reduce((total, [, f]) => total + (typeof f[key] === 'number' ? (f[key] as number) : 0), 0);

const keep = (key: string) => (previous[key] === undefined ? null : previous[key]);
const soakFigures = figures['soak'];
const measuredAt = new Date().toISOString();
const reliability = {
  command: soak ? 'npm run test:faults -- --soak' : partial ? `npm run test:faults -- ${passThrough.join(' ')}` : 'npm run test:faults',
  measured_at: measuredAt,
  machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
  // Every usage row or rejection event a client's answer promised that PostgreSQL does not
  // hold, summed over the faults (answered requests without their usage row, refusals
  // without their audit row, changes without their audit row).
  lost_events: sum('lost_events'),
  duplicate_audit_rows: sum('duplicate_audit_rows'),
  duplicate_usage_rows: sum('duplicate_usage_rows'),
  faults_survived: faults.filter((f) => f.status === 'passed').length,
  faults_total: faults.length,
  soak_minutes: soakFigures ? soakFigures['soak_minutes'] : keep('soak_minutes'),
  soak_rss_growth_mb: soakFigures ? soakFigures['soak_rss_growth_mb'] : keep('soak_rss_growth_mb'),
  soak_measured_at: soakFigures ? measuredAt : keep('soak_measured_at'),
  // From hostile-input.faults.test.ts (its table and the abort-every-stream attack); kept from
  // the last run that measured them when this run did not (a filtered run).
  hostile_cases: figures['hostile'] ? figures['hostile']['hostile_cases'] : keep('hostile_cases'),
  hostile_refused: figures['hostile'] ? figures['hostile']['hostile_refused'] : keep('hostile_refused'),
  max_rss_mb_hostile: figures['hostile'] ? figures['hostile']['max_rss_mb_hostile'] : keep('max_rss_mb_hostile'),
  budget_evasion_usd: figures['budget-evasion'] ? figures['budget-evasion']['budget_evasion_usd'] : keep('budget_evasion_usd'),
  faults,
  figures: { ...(previous['figures'] as Record<string, unknown> | undefined), ...figures },
};
if (soakFigures) {
  const { windows, ...rest } = soakFigures;
  reliability.figures['soak'] = { ...rest, windows };
}
writeFileSync(resultFile, `${JSON.stringify(reliability, null, 2)}\n`);
console.error(
  `[faults] ${reliability.faults_survived}/${reliability.faults_total} faults survived; lost_events ${reliability.lost_events}, duplicate_audit_rows ${reliability.duplicate_audit_rows}; written to bench/results/reliability.json`,
);
process.exit(statuses.every((status) => status === 0) ? 0 : 1);
