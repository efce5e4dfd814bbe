// Smoke check of the product image (ADR 0005): every entry point runs in the image as a
// non-root user on a read-only root file system, and `operator migrate` applies the migrations
// against a real PostgreSQL (the test bed's embedded one, reached over the host network).
// Run: bash scripts/smoke-image.sh [image]   (default codevector:dev; needs a running dockerd)
import { spawn } from 'node:child_process';
import pg from 'pg';
import { runAdminStatements, startPostgres } from '../testbed/src/postgres.ts';

const image = process.argv[2] ?? process.env['IMAGE'] ?? 'codevector:dev';
const user = '10001';
const encryptionKey = Buffer.alloc(32, 7).toString('base64');

type Run = { code: number | null; output: string };

function dockerRun(args: string[], env: Record<string, string> = {}, options: { network?: 'host'; stdin?: string } = {}): Promise<Run> {
  const envArgs = Object.entries(env).flatMap(([key, value]) => ['-e', `${key}=${value}`]);
  const networkArgs = options.network ? ['--network', options.network] : ['--network', 'none'];
  const argv = ['run', '--rm', '-i', '--read-only', '--user', user, '--cap-drop', 'ALL', ...networkArgs, ...envArgs, image, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn('docker', argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(options.stdin ?? '');
  });
}

let failures = 0;
async function check(name: string, run: () => Promise<Run>, expectCode: number, expectOutput: RegExp[]): Promise<Run> {
  const started = performance.now();
  const result = await run();
  const ms = Math.round(performance.now() - started);
  const problems = [
    ...(result.code === expectCode ? [] : [`exit code ${result.code}, expected ${expectCode}`]),
    ...expectOutput.filter((pattern) => !pattern.test(result.output)).map((pattern) => `output lacks ${pattern}`),
  ];
  if (problems.length === 0) {
    console.log(`ok   ${name} (exit ${result.code}, ${ms} ms)`);
  } else {
    failures++;
    console.log(`FAIL ${name}: ${problems.join('; ')}\n${result.output.replace(/^/gm, '     | ')}`);
  }
  return result;
}

await check(
  'node runs as 10001 without a writable root',
  () => dockerRun(['-e', 'console.log(process.getuid(), process.versions.node)']),
  0,
  [/^10001 24\./m],
);
await check(
  're2 native addon loads',
  () => dockerRun(['--input-type=module', '-e', "import RE2 from 're2'; console.log(new RE2('a+b').test('xaab'))"]),
  0,
  [/^true$/m],
);
await check('gateway: config error', () => dockerRun(['gateway/src/main.ts']), 1, [
  /invalid configuration/,
  /DATABASE_URL/,
  /CODEVECTOR_ENCRYPTION_KEY/,
]);
await check('console api: config error', () => dockerRun(['console/api/src/main.ts']), 1, [/invalid configuration/, /SESSION_SECRET/]);
await check('operator: config error', () => dockerRun(['operator/src/main.ts', 'run']), 1, [/invalid configuration/, /DATABASE_URL/]);
await check(
  'operator: usage',
  () => dockerRun(['operator/src/main.ts', 'help'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' }),
  2,
  [/usage:/, /operator migrate/],
);
await check(
  'operator run: no cluster',
  () => dockerRun(['operator/src/main.ts', 'run'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' }),
  1,
  [/ECONNREFUSED|no cluster/],
);
await check(
  'codevector scan (gateway bin)',
  () => dockerRun(['gateway/bin/codevector.js', 'scan'], {}, { stdin: JSON.stringify({ messages: [{ role: 'user', content: 'hello' }] }) }),
  0,
  [/\S/],
);

const postgres = await startPostgres({ durable: false });
try {
  await runAdminStatements(postgres.adminUrl, ['CREATE DATABASE smoke']);
  const url = postgres.urlFor('smoke');
  await check(
    'operator migrate: applies',
    () => dockerRun(['operator/src/main.ts', 'migrate'], { DATABASE_URL: url }, { network: 'host' }),
    0,
    [/migrations done/],
  );
  const second = await check(
    'operator migrate: idempotent',
    () => dockerRun(['operator/src/main.ts', 'migrate'], { DATABASE_URL: url }, { network: 'host' }),
    0,
    [/migrations done/],
  );
  if (!/"applied":\s*(\[\]|0)/.test(second.output)) {
    failures++;
    console.log(`FAIL operator migrate: the second run applied something:\n${second.output}`);
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query<{ n: string }>("SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public'");
  await client.end();
  if (Number(rows[0]?.n ?? 0) === 0) {
    failures++;
    console.log('FAIL operator migrate: no tables in the public schema');
  } else {
    console.log(`ok   migrate made ${rows[0]?.n} tables`);
  }
  await check(
    'gateway: listens against the migrated database, then closes',
    () =>
      dockerRun(
        [
          '--input-type=module',
          '-e',
          // Start the gateway in-process, then shut it down: proves it listens with a read-only root.
          "const { startGateway } = await import('/app/gateway/src/main.ts'); const g = await startGateway(); console.log('listening', g.port); await g.close();",
        ],
        { DATABASE_URL: url, CODEVECTOR_ENCRYPTION_KEY: encryptionKey, PORT: '0', METRICS_PORT: '0', HOST: '127.0.0.1' },
        { network: 'host' },
      ),
    0,
    [/listening \d+/],
  );
} finally {
  await postgres.stop();
}

console.log(failures === 0 ? `smoke-image: all checks passed on ${image}` : `smoke-image: ${failures} check(s) failed on ${image}`);
process.exitCode = failures === 0 ? 0 : 1;
