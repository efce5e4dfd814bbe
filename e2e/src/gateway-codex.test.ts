import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createPool, type DatabasePool, sql } from '@codevector/core/create-pool';
import { createSecretBox } from '@codevector/core/secret-box';
import { startGateway } from '@codevector/gateway/main';
import { seedGatewayConfig, seedUserWithKey } from '@codevector/gateway/seed-config';
import { type FakeProvider, startFakeProvider } from '@codevector/testbed/fake-provider';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';

// The Codex CLI (`@openai/codex`, a native binary) → the gateway → the fake provider, with real
// PostgreSQL under the gateway. Codex runs headless (`codex exec`) with HOME and CODEX_HOME in a
// temporary folder, update checks, analytics and feedback off, and every non-loopback
// connection sent to a dead proxy, so nothing leaves the machine.
const encryptionKey = randomBytes(32).toString('base64');
const secretBox = createSecretBox(encryptionKey);
let pool: DatabasePool;
let fake: FakeProvider;
let gateway: Awaited<ReturnType<typeof startGateway>>;
let base: string;
let key: string;
let keyId: string;
let home: string;

const anyRow = z.record(z.string(), z.unknown());

function codexBinary(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('@openai/codex/package.json')), 'bin', 'codex.js');
}

type CodexRun = { stdout: string; stderr: string; lastMessage: string; events: Record<string, unknown>[] };

/** Runs `codex exec` once; `config` entries become `-c key=value` overrides. */
async function runCodex(prompt: string, config: string[], env: Record<string, string>): Promise<CodexRun> {
  const work = await mkdtemp(path.join(home, 'work-'));
  const last = path.join(work, 'last-message.txt');
  const args = [
    codexBinary(),
    'exec',
    '--json',
    '--skip-git-repo-check',
    '--ephemeral',
    '--sandbox',
    'read-only',
    '--color',
    'never',
    '-C',
    work,
    '-o',
    last,
    '-c',
    'check_for_update_on_startup=false',
    '-c',
    'analytics.enabled=false',
    '-c',
    'feedback.enabled=false',
    '-c',
    'otel.exporter="none"',
    ...config.flatMap((entry) => ['-c', entry]),
    prompt,
  ];
  const child = spawn(process.execPath, args, {
    cwd: work,
    // `codex exec` reads more of the prompt from a piped stdin until EOF; give it none.
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env['PATH'],
      HOME: home,
      CODEX_HOME: path.join(home, '.codex'),
      // Loopback only: anything else goes to a proxy on a port nobody listens on.
      HTTPS_PROXY: 'http://127.0.0.1:9',
      HTTP_PROXY: 'http://127.0.0.1:9',
      ALL_PROXY: 'http://127.0.0.1:9',
      NO_PROXY: '127.0.0.1,localhost',
      RUST_LOG: 'warn',
      ...env,
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`codex exited with ${code}\n${stdout}\n${stderr}`);
  const events = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const lastMessage = await readFile(last, 'utf8').catch(() => '');
  return { stdout, stderr, lastMessage, events };
}

beforeAll(async () => {
  const databaseUrl = process.env['DATABASE_URL']!;
  pool = await createPool(databaseUrl, { maxPoolSize: 4 });
  fake = await startFakeProvider();
  await seedGatewayConfig(pool, secretBox, {
    providers: [{ name: 'openai', spec: { type: 'openai', baseURL: `${fake.url}/v1`, timeoutSeconds: 10 }, apiKey: 'sk-openai-upstream' }],
    models: [
      {
        name: 'gpt',
        spec: { name: 'gpt-5', providerRef: { name: 'openai' }, upstreamModel: 'gpt-5-2026', pricing: { input: 1.25, output: 10 } },
      },
    ],
    secretRules: [{ name: 'builtin', spec: { detectors: ['all'] } }],
  });
  ({ key, keyId } = await seedUserWithKey(pool, { email: 'codex@example.com' }));
  gateway = await startGateway({
    DATABASE_URL: databaseUrl,
    CODEVECTOR_ENCRYPTION_KEY: encryptionKey,
    PORT: '0',
    METRICS_PORT: '0',
    LOG_LEVEL: 'silent',
  });
  base = `http://127.0.0.1:${gateway.port}`;
  home = await mkdtemp(path.join(tmpdir(), 'cv-codex-'));
  await mkdir(path.join(home, '.codex'));
});

afterAll(async () => {
  await gateway?.close();
  await fake?.close();
  await pool?.end();
  if (home) await rm(home, { recursive: true, force: true });
});

beforeEach(() => {
  fake.requests.length = 0;
  fake.websocketMessages.length = 0;
});

async function usageRows(endpoint: string) {
  // Usage rows are written in the background; wait for the turn's row.
  const until = Date.now() + 5000;
  for (;;) {
    const rows = await pool.any(
      sql.type(anyRow)`select * from usage where endpoint = ${endpoint} and api_key_id = ${keyId} and output_tokens > 0`,
    );
    if (rows.length > 0 || Date.now() > until) return rows;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('Codex CLI', () => {
  it('runs codex exec with the built-in provider over the Responses WebSocket', async () => {
    const run = await runCodex('Say hello.', [`openai_base_url="${base}/v1"`, 'model="gpt-5"'], { CODEX_API_KEY: key });
    expect(run.lastMessage.trim()).toBe('Hello from the fake provider.');
    expect(run.events.some((event) => event['type'] === 'turn.completed')).toBe(true);
    // Codex opened the WebSocket (GET /v1/responses upgrade) and the gateway relayed the turn
    // to the provider's WebSocket with the provider's key and the upstream model.
    const upgrade = fake.requests.find((r) => r.method === 'GET' && r.url.startsWith('/v1/responses'));
    expect(upgrade?.headers['authorization']).toBe('Bearer sk-openai-upstream');
    const turns = fake.websocketMessages as Record<string, unknown>[];
    // A warm-up (`generate: false`), then the turn chained to it with previous_response_id.
    expect(turns[0]).toMatchObject({ type: 'response.create', model: 'gpt-5-2026', generate: false });
    expect(turns.at(-1)).toMatchObject({ type: 'response.create', model: 'gpt-5-2026', previous_response_id: expect.any(String) });
    expect(fake.requests.some((r) => r.method === 'POST' && r.url.startsWith('/v1/responses'))).toBe(false);
    const rows = await usageRows('responses.websocket');
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows[0]).toMatchObject({ model: 'gpt-5', status: 200, outcome: 'ok' });
    expect(Number(rows[0]!['cost_usd'])).toBeGreaterThan(0);
  });

  it('runs codex exec with a custom provider over SSE', async () => {
    const run = await runCodex(
      'Say hello.',
      [
        'model_provider="codevector"',
        'model="gpt-5"',
        'model_providers.codevector.name="CodeVector"',
        `model_providers.codevector.base_url="${base}/v1"`,
        'model_providers.codevector.env_key="CODEVECTOR_API_KEY"',
        'model_providers.codevector.wire_api="responses"',
      ],
      { CODEVECTOR_API_KEY: key },
    );
    expect(run.lastMessage.trim()).toBe('Hello from the fake provider.');
    expect(run.events.some((event) => event['type'] === 'turn.completed')).toBe(true);
    const forwarded = fake.requests.filter((r) => r.method === 'POST' && r.url === '/v1/responses');
    expect(forwarded.length).toBeGreaterThanOrEqual(1);
    const turn = forwarded.at(-1)!;
    expect(turn.headers['authorization']).toBe('Bearer sk-openai-upstream');
    expect(turn.json).toMatchObject({ model: 'gpt-5-2026', stream: true, store: false });
    const rows = await usageRows('responses');
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows.at(-1)).toMatchObject({ model: 'gpt-5', status: 200, outcome: 'ok' });
  });
});
