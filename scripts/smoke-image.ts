// Smoke check of the product image (ADR 0005): every entry point runs in the image as a
// non-root user on a read-only root file system, and `operator migrate` applies the migrations
// against a real PostgreSQL (the test bed's embedded one, reached over the host network).
// Run: bash scripts/smoke-image.sh [image]   (default codevector:dev; needs a running dockerd)
import { spawn } from 'node:child_process';
import pg from 'pg';
import { runAdminStatements, startPostgres } from '../testbed/src/postgres.ts';

const image = process.argv[2] ?? process.env['IMAGE'] ?? 'codevector:dev';
// With --postgres-image <image> (scripts/build-postgres-image.sh), the database is that image, run
// like the product image: read-only root, its own non-root user, no capabilities.
const postgresImageIndex = process.argv.indexOf('--postgres-image');
const postgresImage = postgresImageIndex > 0 ? process.argv[postgresImageIndex + 1] : undefined;
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

/** Runs a long-lived container on the host network; resolves once `ready` answers, with a stopper. */
async function startDetached(
  name: string,
  args: string[],
  env: Record<string, string>,
  ready: () => Promise<boolean>,
  extra: string[] = [],
) {
  const container = `cv-smoke-${name}-${process.pid}`;
  const envArgs = Object.entries(env).flatMap(([key, value]) => ['-e', `${key}=${value}`]);
  const argv = ['run', '-d', '--name', container, '--read-only', '--user', user, '--cap-drop', 'ALL', '--network', 'host'];
  await docker([...argv, ...extra, ...envArgs, image, ...args]);
  const until = Date.now() + 60_000;
  let up = false;
  while (!up && Date.now() < until) {
    up = await ready().catch(() => false);
    if (!up) await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return {
    up,
    logs: () => docker(['logs', container]).then((r) => r.output),
    /** SIGTERM, then the exit code (0 = it shut down gracefully). */
    async stop(): Promise<number> {
      await docker(['stop', '-t', '20', container]);
      const code = Number((await docker(['inspect', '-f', '{{.State.ExitCode}}', container])).output.trim());
      await docker(['rm', '-f', container]);
      return code;
    },
  };
}

function docker(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

const httpOk = (url: string) => async () => (await fetch(url)).ok;
const randomPort = () => 20_000 + Math.floor(Math.random() * 20_000);

async function startDatabase(): Promise<{ url: string; stop(): Promise<void> }> {
  if (!postgresImage) {
    const postgres = await startPostgres({ durable: false });
    await runAdminStatements(postgres.adminUrl, ['CREATE DATABASE smoke']);
    return { url: postgres.urlFor('smoke'), stop: () => postgres.stop() };
  }
  const port = randomPort();
  const container = `cv-smoke-postgres-${process.pid}`;
  const started = await docker([
    ...['run', '-d', '--name', container, '--read-only', '--user', '999', '--cap-drop', 'ALL', '--network', 'host'],
    ...['--tmpfs', '/tmp', '--tmpfs', '/var/lib/postgresql/data:uid=999,gid=999,mode=0700'],
    ...['-e', 'POSTGRES_PASSWORD=smoke-password', '-e', 'POSTGRES_DB=smoke', postgresImage, '-c', `port=${port}`],
  ]);
  if (started.code !== 0) throw new Error(`postgres image did not start: ${started.output}`);
  const url = `postgres://postgres:smoke-password@127.0.0.1:${port}/smoke`;
  const until = Date.now() + 60_000;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      break;
    } catch (error) {
      if (Date.now() > until) throw new Error(`postgres image not ready: ${(await docker(['logs', container])).output}`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  console.log(`ok   ${postgresImage} serves as uid 999 on a read-only root`);
  return { url, stop: async () => void (await docker(['rm', '-f', container])) };
}

const postgres = await startDatabase();
try {
  const url = postgres.url;
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

  // Every long-running entry point as the chart runs it: its own main, a read-only root with a
  // writable /tmp, serving until SIGTERM, then a graceful exit (code 0).
  const tmp = ['--tmpfs', '/tmp'];
  const gatewayPort = randomPort();
  const gateway = await startDetached(
    'gateway',
    ['gateway/src/main.ts'],
    {
      DATABASE_URL: url,
      CODEVECTOR_ENCRYPTION_KEY: encryptionKey,
      PORT: String(gatewayPort),
      METRICS_PORT: String(gatewayPort + 1),
      HOST: '127.0.0.1',
    },
    httpOk(`http://127.0.0.1:${gatewayPort + 1}/healthz`),
    tmp,
  );
  await check(
    'gateway main: serves /healthz, exits 0 on SIGTERM',
    async () => ({ code: gateway.up ? await gateway.stop() : -1, output: gateway.up ? 'up' : await gateway.logs() }),
    0,
    [/up/],
  );

  const consolePort = randomPort();
  const consoleApp = await startDetached(
    'console',
    ['console/api/src/main.ts'],
    {
      DATABASE_URL: url,
      SESSION_SECRET: 's'.repeat(40),
      PORT: String(consolePort),
      HOST: '127.0.0.1',
      CODEVECTOR_BOOTSTRAP_ADMIN_EMAIL: 'admin@example.com',
      CODEVECTOR_BOOTSTRAP_ADMIN_PASSWORD: 'smoke-password-123',
    },
    async () => (await fetch(`http://127.0.0.1:${consolePort}/`)).ok && (await fetch(`http://127.0.0.1:${consolePort}/healthz`)).ok,
    tmp,
  );
  await check(
    'console main: serves the web app and /healthz, exits 0 on SIGTERM',
    async () => ({ code: consoleApp.up ? await consoleApp.stop() : -1, output: consoleApp.up ? 'up' : await consoleApp.logs() }),
    0,
    [/up/],
  );

  // The operator's cluster mode needs an apiserver (the cluster e2e covers it); its folder source
  // reconciles the examples into the database through the same planner and audit writer.
  const examples = new URL('../examples/', import.meta.url).pathname;
  const rowsIn = async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM models');
    await client.end();
    return Number(rows[0]?.n ?? 0);
  };
  const operator = await startDetached(
    'operator',
    ['operator/src/main.ts', 'run', '--source', 'dir:/examples'],
    { DATABASE_URL: url, CODEVECTOR_ENCRYPTION_KEY: encryptionKey, CODEVECTOR_LEADER_ELECTION: 'false' },
    async () => (await rowsIn()) > 0,
    [...tmp, '-v', `${examples}:/examples:ro`],
  );
  await check(
    'operator run (folder source): reconciles examples/ into rows, exits 0 on SIGTERM',
    async () => ({
      code: operator.up ? await operator.stop() : -1,
      output: operator.up ? `up ${await rowsIn()} models` : await operator.logs(),
    }),
    0,
    [/up [1-9]\d* models/],
  );
} finally {
  await postgres.stop();
}

console.log(failures === 0 ? `smoke-image: all checks passed on ${image}` : `smoke-image: ${failures} check(s) failed on ${image}`);
process.exitCode = failures === 0 ? 0 : 1;
