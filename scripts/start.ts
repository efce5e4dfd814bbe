// `npm start`: the whole product on one machine, no cluster needed. Embedded PostgreSQL keeps
// its data in .codevector/postgres; the operator reconciles examples/ through its file source;
// gateway and console listen on 127.0.0.1. URLs and credentials go to .codevector/dev.json.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate } from '@codevector/core/migrate';
import { startPostgres } from '@codevector/testbed/postgres';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const stateDir = path.join(root, '.codevector');
const env = process.env;
const ports = {
  gateway: Number(env['CODEVECTOR_GATEWAY_PORT'] ?? 8080),
  gatewayMetrics: Number(env['CODEVECTOR_GATEWAY_METRICS_PORT'] ?? 9464),
  console: Number(env['CODEVECTOR_CONSOLE_PORT'] ?? 3000),
  postgres: Number(env['CODEVECTOR_POSTGRES_PORT'] ?? 54329),
};
const manifests = env['CODEVECTOR_MANIFESTS'] ?? path.join(root, 'examples');

type Secrets = { encryptionKey: string; sessionSecret: string; adminEmail: string; adminPassword: string };

async function loadSecrets(): Promise<Secrets> {
  const file = path.join(stateDir, 'secrets.json');
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as Secrets;
  const secrets: Secrets = {
    encryptionKey: randomBytes(32).toString('base64'),
    sessionSecret: randomBytes(32).toString('base64'),
    adminEmail: 'admin@codevector.local',
    adminPassword: randomBytes(12).toString('base64url'),
  };
  await writeFile(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

async function waitForHttp(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      if (response.status < 500) return true;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}

const children: ChildProcess[] = [];

function startService(name: string, entry: string, args: string[], serviceEnv: Record<string, string>): ChildProcess | null {
  const file = path.join(root, entry);
  if (!existsSync(file)) {
    console.log(`start: ${name} is not built yet (${entry} missing); skipping`);
    return null;
  }
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', file, ...args], {
    cwd: root,
    env: { ...env, ...serviceEnv },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('exit', (code, signal) => {
    if (!shuttingDown) {
      console.error(`start: ${name} exited (${signal ?? code}); stopping everything`);
      void shutdown(1);
    }
  });
  children.push(child);
  return child;
}

let shuttingDown = false;
let stopPostgres: (() => Promise<void>) | undefined;

async function shutdown(code: number): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(
    children.map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)))),
  );
  await stopPostgres?.();
  process.exit(code);
}

async function main(): Promise<void> {
  await mkdir(stateDir, { recursive: true });
  const secrets = await loadSecrets();
  const external = env['DATABASE_URL'];
  let databaseUrl: string;
  if (external) {
    databaseUrl = external;
  } else {
    const postgres = await startPostgres({ dataDir: path.join(stateDir, 'postgres'), port: ports.postgres, durable: true });
    stopPostgres = postgres.stop;
    databaseUrl = postgres.adminUrl;
  }
  await migrate(databaseUrl, (line) => console.log(`start: ${line}`));

  const shared = { DATABASE_URL: databaseUrl, CODEVECTOR_ENCRYPTION_KEY: secrets.encryptionKey, LOG_LEVEL: env['LOG_LEVEL'] ?? 'info' };
  const gatewayUrl = `http://127.0.0.1:${ports.gateway}`;
  const consoleUrl = `http://127.0.0.1:${ports.console}`;
  startService('operator', 'operator/src/main.ts', ['run', '--source', `dir:${manifests}`], shared);
  startService('gateway', 'gateway/src/main.ts', [], {
    ...shared,
    HOST: '127.0.0.1',
    PORT: String(ports.gateway),
    METRICS_PORT: String(ports.gatewayMetrics),
  });
  startService('console', 'console/api/src/main.ts', [], {
    ...shared,
    HOST: '127.0.0.1',
    PORT: String(ports.console),
    SESSION_SECRET: secrets.sessionSecret,
    CODEVECTOR_BOOTSTRAP_ADMIN_EMAIL: secrets.adminEmail,
    CODEVECTOR_BOOTSTRAP_ADMIN_PASSWORD: secrets.adminPassword,
    GATEWAY_PUBLIC_URL: gatewayUrl,
  });

  const [gatewayUp, consoleUp] = await Promise.all([
    waitForHttp(`http://127.0.0.1:${ports.gatewayMetrics}/healthz`, 30_000),
    waitForHttp(`${consoleUrl}/`, 30_000),
  ]);
  const dev = {
    gatewayUrl,
    gatewayMetricsUrl: `http://127.0.0.1:${ports.gatewayMetrics}/metrics`,
    consoleUrl,
    databaseUrl,
    manifests,
    admin: { email: secrets.adminEmail, password: secrets.adminPassword },
    services: { gateway: gatewayUp, console: consoleUp },
  };
  await writeFile(path.join(stateDir, 'dev.json'), JSON.stringify(dev, null, 2), { mode: 0o600 });
  console.log(
    [
      '',
      'CodeVector is running.',
      `  gateway   ${gatewayUrl}${gatewayUp ? '' : '  (not ready)'}`,
      `  console   ${consoleUrl}${consoleUp ? '' : '  (not ready)'}   sign in as ${secrets.adminEmail} / ${secrets.adminPassword}`,
      `  database  ${databaseUrl}`,
      `  manifests ${manifests} (edit them; the operator applies changes)`,
      `  details   ${path.join(stateDir, 'dev.json')}`,
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
main().catch(async (error: unknown) => {
  console.error('start: failed', error);
  await shutdown(1);
});
